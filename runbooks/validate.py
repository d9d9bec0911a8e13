"""Validate stage: Document (+ Runbook model, + optional Site) → every semantic problem, located.

Checks objectives, targets and every `${{ }}` expression against what is in scope where it
stands; with a site, also teams, pools, channels and people. The step graph's checks are
runbooks/graph.py's (they run even when the shape is invalid).
"""

from __future__ import annotations

from typing import Any

from .checker import Checker
from .diagnostics import Diagnostic, did_you_mean
from .expressions import infer_shape, single_expression
from .graph import streaming_source, upstream_of
from .models import HUMAN_KINDS, MESSAGE_VARS, InputSpec, Runbook
from .sites import Site
from .source import Document
from .step_checks import CHECKS, check_message


def check_runbook(doc: Document, runbook: Runbook, site: Site | None = None) -> list[Diagnostic]:
    c = Checker(doc, runbook, site)
    head = c.scope(steps=None, run=False)
    if runbook.trigger and isinstance(runbook.trigger.if_, str):
        c.strings(runbook.trigger.if_, ("trigger", "if"), head)
    for name, spec in runbook.inputs.items():
        _check_input_default(c, name, spec)
    step_ids = [s.id for s in runbook.steps]
    seen: set[str] = set()
    for i, obj in enumerate(runbook.objectives):
        if obj.id in seen:
            c.add(("objectives", i, "id"), "RB301", f'duplicate objective id "{obj.id}"')
        seen.add(obj.id)
        if obj.coverage is not None:
            c.problems += check_coverage_objective(c.doc, i, obj.coverage, runbook, c.site)
            continue
        key = "count" if obj.count else "ratio"
        ref = obj.count or obj.ratio
        if ref not in step_ids:
            c.add(
                ("objectives", i, key),
                "RB304",
                f'objective "{obj.id}" {key}s step "{ref}", which does not exist',
                did_you_mean(str(ref), step_ids),
            )
        if isinstance(obj.target, str):
            c.strings(obj.target, ("objectives", i, "target"), head)
        if obj.options is not None and ref in step_ids:
            _check_objective_options(c, i, obj.id, obj.options, runbook.steps[step_ids.index(ref)])
    whole = c.scope(steps=c.shapes)
    message = c.scope(steps=c.shapes, item_vars=MESSAGE_VARS)
    for tid, text in runbook.templates.items():
        c.strings(text, ("templates", tid), message)
    for i, rule in enumerate(runbook.notify):
        for j, target in enumerate(rule.to):
            c.target(target, ("notify", i, "to", j), whole, notify_only=True)
        check_message(c, ("notify", i), rule, message)
    upstream = upstream_of(runbook)
    kinds = {s.id: s.kind for s in runbook.steps}
    for i, step in enumerate(runbook.steps):
        source = streaming_source(step, kinds)
        _check_step(c, i, step, upstream.get(step.id, frozenset()) | ({source} if source else set()))
    return c.problems


def check_coverage_objective(
    doc: Document, i: int, queue: str, runbook: Runbook, site: Site | None
) -> list[Diagnostic]:
    """A coverage objective names a queue of the site (RB405), and that queue's supply names
    steps of this runbook with their `people` fields (RB511, located in site.yaml)."""
    if site is None:
        return []
    if queue not in site.service:
        return [
            doc.diagnostic(
                ("objectives", i, "coverage"),
                "RB405",
                f'site "{site.id}" has no service queue "{queue}"',
                did_you_mean(queue, site.service) or f"queues: {', '.join(site.service) or 'none'}",
            )
        ]
    steps = {s.id: s for s in runbook.steps}
    problems = []
    q = site.service[queue]
    names = [(s.step, s.field, s.where) for s in q.supply]
    if q.per_item is not None:
        names.append((q.per_item[0], None, q.demand_where))
    for step_id, field, (path, line, col) in names:
        step = steps.get(step_id)
        if step is None:
            why = f'queue "{queue}" counts step "{step_id}", which runbook "{runbook.id}" does not have'
            hint = did_you_mean(step_id, steps) or f"steps: {', '.join(steps)}"
        elif field is not None and getattr(getattr(step, "fields", {}).get(field), "type", None) != "people":
            why = f'queue "{queue}" counts field "{field}" of step "{step_id}", which is not a people field there'
            hint = f"declare it: fields: {{{field}: {{type: people}}}}"
        else:
            continue
        problems.append(Diagnostic(path, line, col, "RB511", why, hint))
    return problems


def _check_objective_options(c: Checker, i: int, oid: str, options: list[str], step: Any) -> None:
    """A ratio's `options:` name answers of the roll call it measures."""
    if step.kind != "muster":
        message = f'objective "{oid}" has options: but "{step.id}" is not a roll call'
        c.add(("objectives", i, "options"), "RB307", message)
        return
    for j, option in enumerate(options):
        if option not in step.options:
            c.add(
                ("objectives", i, "options", j),
                "RB307",
                f'objective "{oid}": "{option}" is not an answer of roll call "{step.id}"',
                did_you_mean(option, list(step.options)) or f"answers: {', '.join(step.options)}",
            )


def _check_input_default(c: Checker, name: str, spec: InputSpec) -> None:
    if spec.default is None:
        return
    types: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "integer": int,
        "number": (int, float),
        "boolean": bool,
        "choice": str,
    }
    expected = types[spec.type]
    ok = isinstance(spec.default, expected) and not (
        spec.type in ("integer", "number") and isinstance(spec.default, bool)
    )
    if not ok:
        c.add(("inputs", name, "default"), "RB306", f'default of input "{name}" is not {spec.type}')
    elif spec.type == "choice" and spec.default not in (spec.options or []):
        c.add(
            ("inputs", name, "default"),
            "RB306",
            f'default "{spec.default}" is not one of the options',
            f"options: {', '.join(spec.options or [])}",
        )


def _check_step(c: Checker, i: int, step: Any, upstream: frozenset[str]) -> None:
    loc = ("steps", i)
    items = frozenset({step.as_}) if step.for_each is not None else frozenset()
    outer = c.scope(steps=c.shapes, upstream=upstream)
    inner = c.scope(steps=c.shapes, upstream=upstream, item_vars=items)
    if step.for_each is None:
        for field, key in (("as_", "as"), ("key", "key")):
            if field in step.model_fields_set:
                c.add(loc + (key,), "RB107", f"{key}: has no effect without for_each:", key=True)
    elif isinstance(step.for_each, str):
        expr = single_expression(step.for_each)
        if expr is None:
            c.add(
                loc + ("for_each",),
                "RB208",
                "for_each must be a list or one expression giving a list",
                'for_each: "${{ site.staff }}"',
            )
        else:
            c.strings(step.for_each, loc + ("for_each",), outer)
            shape = infer_shape(expr, outer)
            if shape not in (None, "list"):
                c.add(
                    loc + ("for_each",),
                    "RB208",
                    f"for_each gives {'a single value' if shape == 'scalar' else 'a mapping'}, not a list",
                    "iterate over a list: site.staff, a muster's answers.<option>, or a filter ending in | list",
                )
    if step.key is not None:
        c.strings(step.key, loc + ("key",), inner)
    for name, spec in (getattr(step, "fields", None) or {}).items():  # a people field's options
        if spec.type == "people" and isinstance(spec.options, str):
            c.strings(spec.options, loc + ("fields", name, "options"), inner)
    if isinstance(step.if_, str):
        c.strings(step.if_, loc + ("if",), inner)
    if step.name:
        c.strings(step.name, loc + ("name",), inner)
    if step.owner is not None:
        c.target(step.owner, loc + ("owner",), inner)
    elif step.kind in HUMAN_KINDS - {"muster"} or (step.kind == "allocate" and step.handover):
        c.add(
            loc,
            "RB102",
            f'step "{step.id}" ({step.kind}) needs an owner: someone must act on it',
            "owner: team:<id>, role:manager or person:<id>",
            key=True,
        )
    if step.escalate is not None:
        c.target(step.escalate.to, loc + ("escalate", "to"), inner, notify_only=True, allow_owner=True)
    CHECKS.get(step.kind, lambda *a: None)(c, loc, step, inner)
