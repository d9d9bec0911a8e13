"""Shift-plan checks: a `shifts` step (+ the site when given) → its problems as
`(loc, code, message, hint)`: patterns longer than a day (RB520), `rest` longer than a day
(RB521), an eligible set with nobody in it (RB522), a queue the site lacks (RB523). The
validator (validate.py) turns them into located diagnostics."""

from __future__ import annotations

from typing import Any

from .diagnostics import did_you_mean
from .expressions import ExpressionError, find_expressions, parse_expression, references, render_value
from .models import ShiftsStep, parse_duration
from .sites import Site

DAY = 86400
Problem = tuple[tuple[Any, ...], str, str, str | None]


def check_shifts(step: ShiftsStep, site: Site | None, inputs: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    for j, pattern in enumerate(step.patterns):
        if parse_duration(pattern.length) > DAY:
            problems.append(
                (
                    ("patterns", j, "length"),
                    "RB520",
                    f"shift pattern {j + 1} lasts {pattern.length}, longer than a day (24h)",
                    "a shift is at most 24h: split it into two patterns",
                )
            )
        elif parse_duration(pattern.length) == 0:
            problems.append((("patterns", j, "length"), "RB520", f"shift pattern {j + 1} lasts no time", None))
    if parse_duration(step.rest) > DAY:
        problems.append(
            (
                ("rest",),
                "RB521",
                f"rest: {step.rest} is longer than a day: nobody could work two days running",
                "rest is the minimum time between two shifts of a person, e.g. rest: 11h",
            )
        )
    if step.for_each is not None:
        problems.append((("for_each",), "RB107", "a shifts step plans a whole queue: it has no for_each:", None))
    if isinstance(step.from_, list) and not step.from_:
        problems.append((("from",), "RB522", "nobody is eligible: from: is an empty list", _FROM_HINT))
    if site is None:
        return problems
    if step.queue not in site.service:
        problems.append(
            (
                ("queue",),
                "RB523",
                f'site "{site.id}" has no service queue "{step.queue}"',
                did_you_mean(step.queue, site.service) or f"queues: {', '.join(site.service) or 'none'}",
            )
        )
    people = _static_people(step, site, inputs)
    if people is not None and not people:
        problems.append((("from",), "RB522", f'nobody is eligible: from: gives no one on site "{site.id}"', _FROM_HINT))
    elif isinstance(step.from_, list):
        for j, person in enumerate(step.from_):
            if site.person(person) is None:
                problems.append((("from", j), "RB404", f'site "{site.id}" has no person "{person}" in staff.csv', None))
    return problems


_FROM_HINT = "name who may work, e.g. from: \"${{ site.staff | selectattr('team', 'eq', 'operations') | list }}\""


def _static_people(step: ShiftsStep, site: Site, inputs: dict[str, Any]) -> list[Any] | None:
    """The eligible set when it depends on the site and inputs only (None: known at run time)."""
    if not isinstance(step.from_, str):
        return None
    for found in find_expressions(step.from_):
        try:
            roots = {root for root, _ in references(parse_expression(found.inner))}
        except ExpressionError:
            return None
        if not roots <= {"site", "inputs"}:
            return None
    try:
        value = render_value(step.from_, {"site": site.context(), "inputs": inputs})
    except ExpressionError:
        return None
    return list(value) if isinstance(value, list | tuple) else None
