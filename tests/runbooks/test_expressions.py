"""Expressions: native values, text interpolation, strict names, the sandbox."""
from __future__ import annotations

import pytest

from runbooks.expressions import ExpressionError, Scope, check_expression, render_value

CONTEXT = {"inputs": {"n": 48}, "site": {"staff": [{"id": "X1", "team": "it"}, {"id": "X2", "team": "ops"}]},
           "steps": {}, "run": {"id": "r1"}}


def test_a_string_that_is_one_expression_gives_the_native_value():
    assert render_value("${{ inputs.n }}", CONTEXT) == 48
    assert render_value(" ${{ site.staff | selectattr('team', 'equalto', 'it') | list }} ", CONTEXT) == \
        [{"id": "X1", "team": "it"}]


def test_text_with_expressions_gets_each_value_in_place():
    assert render_value("Bring ${{ inputs.n }} agents (${{ site.staff | length }} staff)", CONTEXT) == \
        "Bring 48 agents (2 staff)"


def test_values_are_rendered_through_lists_and_mappings():
    assert render_value({"user": "${{ run.id }}", "tags": ["a", "${{ inputs.n + 1 }}"]}, CONTEXT) == \
        {"user": "r1", "tags": ["a", 49]}


def test_an_unknown_name_at_run_time_is_an_error_not_an_empty_string():
    with pytest.raises(ExpressionError, match="missing"):
        render_value("${{ inputs.missing }}", CONTEXT)


def test_the_sandbox_refuses_python_internals():
    with pytest.raises(ExpressionError, match="not allowed|unsafe|undefined"):
        render_value("${{ inputs.__class__.__mro__ }}", CONTEXT)
    with pytest.raises(ExpressionError):
        render_value("${{ site.staff.append(1) }}", CONTEXT)


def test_static_check_reports_each_unknown_name_once():
    problems = check_expression("inputs.m + foo + env.X", Scope(inputs=frozenset({"n"})))
    assert [p.code for p in problems] == ["RB203", "RB202", "RB206"]


def test_a_key_named_like_a_dict_method_is_the_key():
    context = {"steps": {"go_live": {"items": {"E1": {"state": "done"}}, "counts": {"done": 1}}}}
    assert render_value("${{ steps.go_live.items.E1.state }}", context) == "done"


def test_two_expressions_in_one_string_are_text_not_one_expression():
    assert render_value("${{ run.id }}/x/${{ inputs.n }}", CONTEXT) == "r1/x/48"
