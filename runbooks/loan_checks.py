"""Loan-step checks: a `loan` step (+ the site when given) → its problems as `(loc, code,
message, hint)`: a lending site that is not another site of the library (RB524), a queue one of
the two sites lacks (RB525), a window that is empty or longer than the longest loan (RB526), a
number of agents out of range (RB527). What depends on the run (an expression naming steps) is
checked when the request is filed. The validator (validate.py) turns them into located
diagnostics."""

from __future__ import annotations

import re
from typing import Any

from .diagnostics import did_you_mean
from .expressions import ExpressionError, find_expressions, parse_expression, references, render_value
from .library import site_directories
from .models import LoanStep, parse_duration
from .sites import Site, load_site

MAX_LOAN_HOURS = 24 * 14  # the longest coverage window: a loan past it could not be checked
MAX_AGENTS = 10_000
DURATION = re.compile(r"^(\d+[smhd])+$")
Problem = tuple[tuple[Any, ...], str, str, str | None]


def check_loan(step: LoanStep, site: Site | None, inputs: dict[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    if step.for_each is not None:
        problems.append((("for_each",), "RB107", "a loan step asks for one block of agents: it has no for_each:", None))
    agents = _static(step.agents, inputs, site)
    if agents is not None and (not isinstance(agents, int) or isinstance(agents, bool) or agents < 1):
        problems.append(
            (("agents",), "RB527", f"agents: {agents!r} is not a number of agents from 1 to {MAX_AGENTS}", None)
        )
    elif isinstance(agents, int) and agents > MAX_AGENTS:
        problems.append((("agents",), "RB527", f"agents: {agents} is more than {MAX_AGENTS}", None))
    start, end = _offset(step.start), _offset(step.end)
    if start is not None and end is not None:
        if end <= start:
            problems.append(
                (
                    ("end",),
                    "RB526",
                    f"the loan ends ({step.end} after the request) no later than it starts ({step.start})",
                    "end: is counted from the request, like start:, e.g. start: 0s, end: 72h",
                )
            )
        elif end - start > MAX_LOAN_HOURS * 3600:
            problems.append(
                (
                    ("end",),
                    "RB526",
                    f"the loan lasts {(end - start) / 3600:g} h, longer than the {MAX_LOAN_HOURS} h a loan may last",
                    "ask for at most 14 days (336h) and request another block later",
                )
            )
    if site is None:
        return problems
    if step.queue not in site.service:
        problems.append(
            (
                ("queue",),
                "RB525",
                f'site "{site.id}" has no service queue "{step.queue}" to borrow agents for',
                did_you_mean(step.queue, site.service) or f"queues: {', '.join(site.service) or 'none'}",
            )
        )
    lender = _static(step.from_, inputs, site)
    if lender is None or (step.if_ is not None and _static(step.if_, inputs, site) is False):
        return problems  # known at run time, or the step is skipped at this site
    problems.extend(_check_lender(str(lender), step.queue, site))
    return problems


def _check_lender(lender: str, queue: str, site: Site) -> list[Problem]:
    if lender == site.id:
        return [(("from",), "RB524", f'site "{site.id}" cannot lend agents to itself', "from: names the lending site")]
    directories = site_directories()
    if lender not in directories:
        return [
            (
                ("from",),
                "RB524",
                f'no site "{lender}" in the library lends agents',
                did_you_mean(lender, directories) or f"sites: {', '.join(sorted(directories)) or 'none'}",
            )
        ]
    try:
        other = load_site(directories[lender])
    except Exception:  # the lending site's own problems are reported when it is validated
        return []
    if queue not in other.service:
        return [
            (
                ("queue",),
                "RB525",
                f'the lending site "{lender}" has no service queue "{queue}"',
                f"its queues: {', '.join(other.service) or 'none'}",
            )
        ]
    return []


def _offset(value: str | int) -> int | None:
    """A window bound given as a duration (seconds after the request), else None."""
    if isinstance(value, str) and DURATION.match(value):
        return parse_duration(value)
    return None


def _static(value: Any, inputs: dict[str, Any], site: Site | None) -> Any:
    """The value when it depends on the inputs (and the site) only; None when known at run time."""
    if not isinstance(value, str):
        return value
    found = list(find_expressions(value))
    if not found:
        return value
    for expression in found:
        try:
            roots = {root for root, _ in references(parse_expression(expression.inner))}
        except ExpressionError:
            return None
        if not roots <= ({"site", "inputs"} if site is not None else {"inputs"}):
            return None
    try:
        context: dict[str, Any] = {"inputs": inputs}
        if site is not None:
            context["site"] = site.context()
        return render_value(value, context)
    except ExpressionError:
        return None
