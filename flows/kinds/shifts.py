"""`shifts`: a queue's shift plan, solved by the runner (flows/steps/shifts.py, CP-SAT) from the
eligible people (`from:`), the required headcount and the step's rules — never inside a
check-off's transaction; the plan is applied in the transaction that records it
(flows/shift_roster.py). Re-planning keeps acknowledged shifts and the shifts already started."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from runbooks.plan import PlannedStep

from .. import shift_roster, shift_watch
from ..coverage import supply_of
from ..runview import RunView
from .base import StepKind


class Shifts(StepKind):
    name = "shifts"
    runs = True

    def job_extra(self, rs: RunView, step: PlannedStep, task: Mapping[str, Any]) -> dict[str, Any]:
        site = rs.plan.site
        queue = site.service.get(step.params["queue"])
        rows = [s for s in rs.tx.shifts(rs.run_id, statuses=None) if s["step_id"] == step.id]
        keep: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {}
        forbid: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {}
        prefer: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {}  # the plan being redone
        fixed = []
        for s in rows:
            start, end = _aware(s["start_at"]), _aware(s["end_at"])
            if s["status"] == "declined":
                forbid.setdefault(s["person_id"], []).append((start, end))
            elif s["status"] in shift_roster.KEPT_STATUSES and start <= rs.now:
                fixed.append({"person": s["person_id"], "start": start, "end": end})
            elif s["status"] == "acknowledged":
                keep.setdefault(s["person_id"], []).append((start, end))
            elif s["status"] == "planned":
                prefer.setdefault(s["person_id"], []).append((start, end))
        return {
            "site": site,
            "now": rs.now,
            "staffed": supply_of(rs.tx, rs.run_id, queue) if queue is not None else None,
            "keep": keep,
            "forbid": forbid,
            "prefer": prefer,
            "fixed": fixed,
            "digest": shift_watch.supply_digest(rs, step, task),
        }

    def on_result(
        self, rs: RunView, step: PlannedStep, task: Mapping[str, Any], outputs: dict[str, Any]
    ) -> dict[str, Any]:
        return shift_roster.apply_plan(rs, step, task, outputs)


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


KIND = Shifts()
