"""The `shifts` executor: the rendered rules and eligible people + what the kind read from the
run (flows/kinds/shifts.py: site, moment, supply, acknowledged and started shifts) → the plan
from CP-SAT within the step's time limit (flows/shift_plan.py). Runs in the runner's worker
thread; the store is written only when the runner records the result."""

from __future__ import annotations

from typing import Any

from ..shift_plan import plan_shifts, rules_of
from .base import StepError, StepJob


def execute(job: StepJob) -> dict[str, Any]:
    extra = job.extra
    site = extra["site"]
    rules = rules_of(job.params)
    if rules.queue not in site.service:
        raise StepError(f'site "{site.id}" has no service queue "{rules.queue}"', retryable=False)
    people = eligible(job.params.get("from"))
    if not people:
        raise StepError("nobody is eligible: from: gives no one (RB522)", retryable=False)
    return plan_shifts(
        site,
        rules,
        people,
        extra["now"],
        staffed=extra.get("staffed"),
        keep=extra.get("keep"),
        forbid=extra.get("forbid"),
        fixed=extra.get("fixed") or (),
    )


def eligible(value: Any) -> list[str]:
    """`from:` rendered: staff ids or roster rows (`{id, …}`) → ids, once each, in order."""
    if not isinstance(value, list | tuple):
        return []
    out: dict[str, None] = {}
    for p in value:
        pid = p.get("id") if isinstance(p, dict) else p
        if pid is not None and str(pid):
            out[str(pid)] = None
    return list(out)
