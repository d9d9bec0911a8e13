"""A run's board in pieces: task counts by step and state → phases and steps with their
progress, the per-person funnel, objectives with their burn-up series and forecast, the step
graph; a task → the check-off form a page shows for it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from runbooks.plan import Plan, PlannedStep

from . import coverage
from .kinds import KINDS, RUNNER_KINDS
from .progress import progress, total
from .runstate import plan_of
from .states import ACTIVE, TERMINAL
from .store import utcnow
from .views import iso

# Kinds whose `ready` tasks are held, not queued for the runner (an allocation waiting for stock).
HELD_KINDS = sorted(set(KINDS) - RUNNER_KINDS)


def _count(states: Mapping[str, tuple[int, Any]], names: Iterable[str]) -> int:
    return sum(states[s][0] for s in names if s in states)


def _oldest(states: Mapping[str, tuple[int, datetime | None]], names: Iterable[str]) -> datetime | None:
    times = [t for s in names if s in states and (t := states[s][1]) is not None]
    return min(times) if times else None


def _step_json(step: PlannedStep, states: Mapping[str, tuple[int, Any]]) -> dict[str, Any]:
    counts = {state: n for state, (n, _) in states.items()}
    total = sum(counts.values())
    ended = _count(states, sorted(TERMINAL))
    return {
        "id": step.id,
        "kind": step.kind,
        "owner": step.owner,
        "fan_out": step.fan_out,
        "total": total,
        "done": _count(states, ["done"]),
        "ended": ended,
        "active": _count(states, ACTIVE),
        "failed": _count(states, ["failed", "rejected"]),
        "states": counts,
        "progress": progress(counts),
        "state": _aggregate(states),
    }


def _aggregate(states: Mapping[str, Any]) -> str:
    names = {s for s, v in states.items() if (v[0] if isinstance(v, tuple) else v)}
    if not names:
        return "pending"
    if names & {"failed", "rejected"}:
        return "failed"
    if names & set(ACTIVE):
        return "active"
    if names <= TERMINAL:
        return "done" if "done" in names else "skipped"
    return "pending"


def phases(plan: Plan, stats: Mapping[str, Mapping[str, tuple[int, Any]]]) -> list[dict[str, Any]]:
    phases: dict[str, list[dict[str, Any]]] = {}
    for step in plan.steps:
        phases.setdefault(step.phase or "steps", []).append(_step_json(step, stats.get(step.id, {})))
    out = []
    for name, steps in phases.items():
        out.append({"id": name, "steps": steps, "progress": progress(total([s["states"] for s in steps]))})
    return out


def funnel(plan: Plan, stats: Mapping[str, Mapping[str, tuple[int, Any]]], now: datetime) -> dict[str, Any] | None:
    """The per-person pipeline: the longest chain of fan-out steps over one collection, fed by a
    roll call. Stage k: how many reached it (its task done) and how many are stuck at it
    (actionable, not done) since when."""
    groups: dict[Any, list[PlannedStep]] = {}
    for step in plan.steps:
        if step.fan_out and step.streams_from:
            groups.setdefault(step.for_each, []).append(step)
    if not groups:
        return None
    chain = max(groups.values(), key=len)
    first = stats.get(chain[0].id, {})
    entered = _count(first, [s for s in first if s != "cancelled"])
    stages = [
        {
            "id": "answered",
            "kind": "muster",
            "reached": entered,
            "stuck": 0,
            "stuck_since": None,
            "stuck_for_s": None,
            "blocked": 0,
            "failed": 0,
        }
    ]
    for step in chain:
        states = stats.get(step.id, {})
        oldest = _oldest(states, ACTIVE)
        stages.append(
            {
                "id": step.id,
                "kind": step.kind,
                "reached": _count(states, ["done"]),
                "stuck": _count(states, ACTIVE),
                "stuck_since": iso(oldest),
                "stuck_for_s": int((now - oldest).total_seconds()) if oldest else None,
                "blocked": _count(states, ["ready"]) if step.kind in HELD_KINDS else 0,
                "failed": _count(states, ["failed", "rejected"]),
            }
        )
    return {"muster": chain[0].streams_from, "stages": stages}


def objective_view(r, row: Mapping[str, Any], plan: Plan, o: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """An objective (with its `forecast` and `state`, flows/forecast.py) and its burn-up series
    [(time, value)] (at most SERIES_POINTS points)."""
    spec = next(x for x in plan.objectives if x.id == o["id"])
    start = row["started_at"]
    deadline = datetime.fromisoformat(o["deadline"])
    end = now if row["state"] == "running" else (row["ended_at"] or now)
    series = _series(r, row, spec, start, max(deadline, end))
    running = row["state"] == "running"
    return {
        **o,
        "measure": spec.measure,
        "step": spec.step,
        "series": [[iso(t), round(v, 4)] for t, v in series],
        "open": running,
        "time_left_s": int((deadline - end).total_seconds()),
        "started_at": iso(start),
        "now": iso(end),
    }


SERIES_POINTS = 120


def _series(r, row: Mapping[str, Any], spec, start: datetime, until: datetime) -> list[tuple[datetime, float]]:
    """Cumulative progress at the end of each bucket that saw some: done tasks of the step, or
    the share of people who answered a roll call (their first answer)."""
    if spec.queue is not None:  # coverage: what the staffing of each moment covers of today's window
        site = plan_of(row, r).site
        queue = site.service.get(spec.queue)
        if queue is None:
            return [(start, 0.0)]
        now = min(until, utcnow())
        return coverage.history(r, row["id"], site, queue, now, max(1, -(-spec.horizon // 3600)), start, SERIES_POINTS)
    bucket = max((until - start).total_seconds() / SERIES_POINTS, 0.001)
    task = r.task_outline(row["id"], spec.step, ("asked",)) if spec.measure == "ratio" else None
    answers = task is not None and task["kind"] == "muster"
    if spec.measure == "count":
        scale = 1.0
    elif answers and task is not None:
        scale = float((task["outputs"] or {}).get("asked") or 1)
    else:
        counts = r.counts_by_step(row["id"]).get(spec.step, {})
        scale = float(sum(n for state, n in counts.items() if state != "cancelled") or 1)
    series, total = [(start, 0.0)], 0
    time_scale = float(row["time_scale"] or 1)
    for b, n in r.progress_buckets(row["id"], spec.step, start, bucket, answers=answers, time_scale=time_scale):
        total += n
        series.append((start + timedelta(seconds=(b + 1) * bucket), total / scale))
    return series


def graph(plan: Plan, stats: Mapping[str, Mapping[str, tuple[int, Any]]]) -> dict[str, Any]:
    """Steps in columns by depth (longest chain of needs), edges from needs."""
    depth: dict[str, int] = {}
    for step in plan.steps:  # dependency order
        depth[step.id] = 1 + max((depth[n] for n in step.needs), default=-1)
    rows: dict[int, int] = {}
    nodes = []
    for step in plan.steps:
        d = depth[step.id]
        states = stats.get(step.id, {})
        done, total = _count(states, ["done"]), _count(states, list(states))
        nodes.append(
            {
                "id": step.id,
                "kind": step.kind,
                "depth": d,
                "row": rows.get(d, 0),
                "state": _aggregate(states),
                "done": done,
                "total": total,
            }
        )
        rows[d] = rows.get(d, 0) + 1
    edges = [[n, step.id] for step in plan.steps for n in step.needs]
    return {"nodes": nodes, "edges": edges}


def form_of(plan: Plan, task: Mapping[str, Any]) -> dict[str, Any]:
    """What acting on a task takes: check off (with its fields), approve/reject, or nothing here."""
    try:
        step = plan.step(task["step_id"])
    except KeyError:
        step = None  # an ad-hoc task
    if step is None or step.kind == "manual":
        fields = dict(step.params.get("fields", {})) if step else {}
        return {"kind": "complete", "fields": [_field(k, v) for k, v in fields.items()]}
    if step.kind == "allocate":  # the hand-over is confirmed by typing the key of the item handed over
        pool = plan.site.pools.get(str(step.params.get("pool")))
        expected = (task.get("outputs") or {}).get(pool.key) if pool else None
        return {
            "kind": "complete",
            "fields": [
                _field(
                    "asset",
                    {"type": "string", "required": True, "description": pool.key if pool else "asset"},
                    expected,
                )
            ],
        }
    if step.kind == "approval":
        return {"kind": "approve", "fields": []}
    return {"kind": "none", "fields": []}


def _field(name: str, spec: Mapping[str, Any], expected: Any = None) -> dict[str, Any]:
    return {
        "name": name,
        "type": spec.get("type", "string"),
        "required": bool(spec.get("required")),
        "description": spec.get("description"),
        "options": list(spec["options"]) if isinstance(spec.get("options"), list) else [],  # people: rendered later
        "expected": expected,
    }


# The run page's timeline: the manager's status updates with the milestones around them.
TIMELINE_EVENTS = (
    "run.started",
    "run.update",
    "objective.reached",
    "objective.at_risk",
    "muster.closed",
    "coverage.gap",
    "run.completed",
    "run.failed",
    "run.cancelled",
)


def timeline_entry(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event row → `{seq, at, event, task, text, by}`: `text` what a person reads (the
    update itself, the objective's name, the gap's interval, the reason)."""
    data = event.get("data") or {}
    text = data.get("text") or data.get("name") or data.get("reason")
    return {
        "seq": event["seq"],
        "at": iso(event["at"]),
        "event": event["name"],
        "task": event.get("task_id"),
        "text": text,
        "by": data.get("by"),
    }
