"""The `shifts` executor: the rendered rules and eligible people + what the kind read from the
run (flows/kinds/shifts.py: site, moment, supply, acknowledged and started shifts) → the plan
from CP-SAT within the step's time limit (flows/shift_plan.py). Runs in the runner's worker
thread; the store is written only when the runner records the result."""

from __future__ import annotations

from typing import Any

from ..shift_plan import plan_shifts, rules_of
from ..shift_watch import eligible_ids
from .base import StepError, StepJob


def execute(job: StepJob) -> dict[str, Any]:
    extra = job.extra
    site = extra["site"]
    rules = rules_of(job.params)
    if rules.queue not in site.service:
        raise StepError(f'site "{site.id}" has no service queue "{rules.queue}"', retryable=False)
    people = eligible_ids(job.params.get("from"))
    if not people:
        raise StepError("nobody is eligible: from: gives no one (RB522)", retryable=False)
    plan = plan_shifts(
        site,
        rules,
        people,
        extra["now"],
        staffed=extra.get("staffed"),
        keep=extra.get("keep"),
        forbid=extra.get("forbid"),
        prefer=extra.get("prefer"),
        fixed=extra.get("fixed") or (),
    )
    return {**plan, "digest": extra.get("digest")}
