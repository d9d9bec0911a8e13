"""Expressions: native values, text interpolation, strict names, the sandbox."""

from __future__ import annotations

import pytest

from runbooks.expressions import ExpressionError, Scope, check_expression, render_value

CONTEXT = {
    "inputs": {"n": 48},
    "site": {"staff": [{"id": "X1", "team": "it"}, {"id": "X2", "team": "ops"}]},
    "steps": {},
    "run": {"id": "r1"},
}


def test_a_string_that_is_one_expression_gives_the_native_value():
    assert render_value("${{ inputs.n }}", CONTEXT) == 48
    assert render_value(" ${{ site.staff | selectattr('team', 'equalto', 'it') | list }} ", CONTEXT) == [
        {"id": "X1", "team": "it"}
    ]


def test_text_with_expressions_gets_each_value_in_place():
    assert (
        render_value("Bring ${{ inputs.n }} agents (${{ site.staff | length }} staff)", CONTEXT)
        == "Bring 48 agents (2 staff)"
    )


def test_values_are_rendered_through_lists_and_mappings():
    assert render_value({"user": "${{ run.id }}", "tags": ["a", "${{ inputs.n + 1 }}"]}, CONTEXT) == {
        "user": "r1",
        "tags": ["a", 49],
    }


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


def test_expressions_see_data_only_never_the_objects_behind_it():
    class View(dict):
        secret = "the database"

        def __init__(self):
            super().__init__(a=1)
            self.rs = "the run state"

    context = {"steps": View(), "site": {"name": "x"}}
    assert render_value("${{ steps.a }}", context) == 1
    for attempt in (
        "${{ steps.rs }}",
        "${{ steps | attr('rs') }}",
        "${{ (steps|attr('secret')) }}",
        "${{ steps['rs'] }}",
        "${{ site.name.__class__ }}",
    ):
        with pytest.raises(ExpressionError):
            render_value(attempt, context)
    assert render_value("${{ site.name.upper() }}", context) == "X"


def test_filters_that_give_generators_give_lists():
    assert render_value("${{ site.staff | selectattr('team', 'equalto', 'it') }}", CONTEXT) == [
        {"id": "X1", "team": "it"}
    ]
