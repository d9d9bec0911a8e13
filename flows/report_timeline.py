"""Report, the run against the clock: a run's objectives → met, missed or open against their
deadlines with the margin; the run's milestones (declared, started, objectives, steps ended,
status updates, ended) in time order (flows/report.py assembles the report)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from runbooks.plan import Plan

from .objectives import objective_value
from .report_durations import seconds_between
from .states import OPEN
from .store import Reader
from .views import iso


def objectives_of(r: Reader, run: Mapping[str, Any], plan: Plan, now: datetime) -> list[dict[str, Any]]:
    """Each objective: `met` only when its target was reached by its deadline (from the store's
    `met_at`); reached later is missed with a negative margin; a run that ended without it is
    missed whatever the clock says (its margin null); `outcome` is met, missed or open (still
    running, in time: the margin is the time left)."""
    met_at = r.objectives_met(run["id"])
    scale = float(run["time_scale"] or 1)
    end = run["ended_at"] or now
    out = []
    for o in plan.objectives:
        deadline = run["started_at"] + timedelta(seconds=o.within / scale)
        reached = met_at.get(o.id)
        if reached is not None:
            outcome = "met" if reached <= deadline else "missed"
            margin = seconds_between(reached, deadline)
        elif end > deadline:  # not reached by the deadline: late by the time since (or until the end)
            outcome, margin = "missed", seconds_between(end, deadline)
        elif run["ended_at"] is not None:  # ended in time without it: missed, and no margin to give
            outcome, margin = "missed", None
        else:
            outcome, margin = "open", seconds_between(now, deadline)
        out.append(
            {
                "id": o.id,
                "name": o.name,
                "target": o.target,
                "value": objective_value(r, run, o, end),
                "met": outcome == "met",
                "outcome": outcome,
                "met_at": iso(reached),
                "deadline": iso(deadline),
                "margin_s": margin,
            }
        )
    return out


def timeline_of(
    r: Reader, run: Mapping[str, Any], plan: Plan, rows: Sequence[Mapping[str, Any]], objectives: Sequence[Mapping]
) -> list[dict[str, Any]]:
    """Declared, started, objectives met or missed, each step's last item ended (a milestone),
    status updates (`run.update`), ended — in time order."""
    items: list[dict[str, Any]] = []
    if run["lockdown_id"]:
        lockdown = r.lockdown(run["lockdown_id"])
        if lockdown is not None:
            items.append({"at": iso(lockdown["declared_at"]), "what": "declared", "by": lockdown["declared_by"]})
    items.append({"at": iso(run["started_at"]), "what": "started", "by": run["started_by"]})
    for o in objectives:
        if o["met_at"]:
            items.append(
                {"at": o["met_at"], "what": "objective.met" if o["met"] else "objective.late", "objective": o["id"]}
            )
        if not o["met"] and o["outcome"] == "missed":
            at = o["deadline"] if o["met_at"] or o["margin_s"] is not None else iso(run["ended_at"])
            items.append({"at": at, "what": "objective.missed", "objective": o["id"]})
    by_step: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for t in rows:
        by_step[t["step_id"]].append(t)
    for step in plan.steps:
        mine = by_step.get(step.id) or []
        if mine and all(t["state"] not in OPEN for t in mine):
            last = max((t["ended_at"] for t in mine if t["ended_at"]), default=None)
            if last is not None:
                items.append({"at": iso(last), "what": "step.ended", "step": step.id, "name": step.name})
    for e in r.events_named(run["id"], "run.update"):
        items.append({"at": iso(e["at"]), "what": "run.update", "text": (e["data"] or {}).get("text")})
    if run["ended_at"]:
        items.append({"at": iso(run["ended_at"]), "what": f"run.{run['state']}", "reason": run["reason"]})
    return sorted(items, key=lambda x: x["at"] or "")
