"""Report, where the time went: a run's task rows (and audit) → durations per step from
actionable to done (p50, p90, max; per team) and the bottlenecks: person-hours held, the items
blocked longest, pool shortages. Percentiles are nearest-rank (flows/report.py)."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from runbooks.plan import Plan

from .pools import SHORTAGE
from .states import OPEN
from .views import iso

TOP = 10  # rows in each "worst" list


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile of `values` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def seconds_between(a: datetime | None, b: datetime | None) -> float | None:
    """From `a` to `b` in seconds (to the millisecond); None when either is unknown."""
    return round((b - a).total_seconds(), 3) if a is not None and b is not None else None


def _team(owner: str | None) -> str:
    if not owner:
        return "-"
    kind, _, name = owner.partition(":")
    return name if kind == "team" else owner


def _stats(durations: Sequence[float]) -> dict[str, Any]:
    return {
        "p50_s": percentile(durations, 0.5),
        "p90_s": percentile(durations, 0.9),
        "max_s": max(durations) if durations else None,
        "done": len(durations),
    }


def steps_of(plan: Plan, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per step (the runbook's order, then ad-hoc tasks): durations of its done tasks from
    actionable to done, overall and per owning team; `waiting` its tasks not ended yet."""
    durations: dict[str, list[float]] = defaultdict(list)
    per_team: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    open_: dict[str, int] = defaultdict(int)
    seen: dict[str, None] = {}
    for t in rows:
        seen.setdefault(t["step_id"])
        if t["state"] in OPEN:
            open_[t["step_id"]] += 1
        if t["state"] == "done":
            took = seconds_between(t["actionable_at"], t["ended_at"])
            if took is not None:
                durations[t["step_id"]].append(took)
                per_team[t["step_id"]][_team(t["owner"])].append(took)
    order = [s.id for s in plan.steps] + [s for s in seen if plan.find(s) is None]
    out = []
    for step_id in order:
        if step_id not in seen:
            continue
        step = plan.find(step_id)
        out.append(
            {
                "id": step_id,
                # an item's title is an expression of the item: the step is named by its id then
                "name": step.name if step is not None and "${{" not in step.name else step_id,
                "kind": step.kind if step is not None else "manual",
                **_stats(durations[step_id]),
                "waiting": open_[step_id],
                "teams": {team: _stats(d) for team, d in sorted(per_team[step_id].items())},
            }
        )
    return out


def bottlenecks_of(
    entries: Sequence[Mapping[str, Any]], rows: Sequence[Mapping[str, Any]], end: datetime
) -> dict[str, Any]:
    """Where time went: person-hours held by human tasks from actionable to ended (or now), by
    step and by team; the items blocked longest for want of stock (from `actionable` to the
    `pool.allocate` that served them); each shortage from its `pool.shortage` row until the
    last item it blocked was served (open while one still waits)."""
    held_step: dict[str, float] = defaultdict(float)
    held_team: dict[str, float] = defaultdict(float)
    by_id = {t["id"]: t for t in rows}
    for t in rows:
        if t["actionable_at"] is None or t["kind"] not in ("manual", "approval", "muster", "allocate", "calls"):
            continue
        seconds = seconds_between(t["actionable_at"], t["ended_at"] or end) or 0.0
        held_step[t["step_id"]] += seconds
        held_team[_team(t["owner"])] += seconds
    served_at: dict[str, datetime] = {}
    for e in entries:
        if e["action"] == "pool.allocate" and e["target"] not in served_at:
            served_at[e["target"]] = e["at"]
    blocked = []
    for t in rows:
        if t["kind"] != "allocate" or t["actionable_at"] is None:
            continue
        served = served_at.get(t["id"])
        still = served is None and t["state"] == "ready" and (t["reason"] or "").startswith(SHORTAGE)
        waited = seconds_between(t["actionable_at"], end if still else served)
        if waited:
            blocked.append({"task": t["id"], "step": t["step_id"], "seconds": waited, "open": still})
    blocked.sort(key=lambda b: -b["seconds"])
    shortages = []
    told = [e for e in entries if e["action"] == "pool.shortage"]
    for k, e in enumerate(told):
        # this shortage's items: blocked in its step from its start until the step's next shortage
        nxt = next((x["at"] for x in told[k + 1 :] if x["target"] == e["target"]), None)
        mine = [
            b
            for b in blocked
            if b["step"] == e["target"]
            and (b["open"] or served_at[b["task"]] >= e["at"])
            and (nxt is None or by_id[b["task"]]["actionable_at"] < nxt)
        ]
        ongoing = any(b["open"] for b in mine)
        last = max((served_at[b["task"]] for b in mine if b["task"] in served_at), default=None)
        until = end if ongoing or last is None else last
        shortages.append(
            {
                "pool": (e["detail"] or {}).get("pool"),
                "step": e["target"],
                "at": iso(e["at"]),
                "until": None if ongoing else iso(until),
                "seconds": seconds_between(e["at"], until),
                "items": len(mine),
            }
        )
    return {"steps": _hours(held_step), "teams": _hours(held_team), "blocked": blocked[:TOP], "shortages": shortages}


def _hours(held: Mapping[str, float]) -> list[dict[str, Any]]:
    top = sorted(held.items(), key=lambda kv: -kv[1])[:TOP]
    return [{"id": k, "person_hours": round(v / 3600, 3)} for k, v in top]
