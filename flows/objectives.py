"""Objectives of a run: their value from the store (a count of done tasks, or a ratio — a
roll call's accounted share, or the share whose answer counts), `objective.reached` once when
a change meets one (once met it stays met while its value moves), `objective.at_risk` once
when three quarters of its time passed and it is not met."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from runbooks.plan import PlannedObjective

from . import coverage
from .kinds import LIVE_KEYS, kind_of
from .runstate import plan_of
from .runview import RunView
from .store import Reader, utcnow

AT_RISK = 0.75  # share of an objective's time after which, not met, it is at risk


def objective_value(
    reader: Reader,
    run: Mapping[str, Any],
    objective: PlannedObjective,
    now: datetime | None = None,
    by_step: Mapping[str, Mapping[str, int]] | None = None,
) -> float:
    """`by_step`: the run's task counts by step and state, when the caller has them already."""
    if objective.queue is not None:  # coverage: the share of the horizon's intervals staffed
        site = plan_of(run, reader).site
        queue = site.service.get(objective.queue)
        if queue is None:
            return 0.0
        rows = coverage.run_rows(reader, run["id"], site, queue, now or utcnow(), max(1, -(-objective.horizon // 3600)))
        return coverage.covered_share(rows)
    # The kept counts (store/counts.py), not the task rows: a step of 10,000 items costs one row a state.
    counts = (reader.counts_by_step(run["id"]) if by_step is None else by_step).get(objective.step, {})
    done = counts.get("done", 0)
    if objective.measure == "count":
        return float(done)
    if sum(counts.values()) == 1:  # a single task: its kind may know a live value (a roll call's accounted share)
        task = reader.step_outline(run["id"], objective.step, LIVE_KEYS)
        live = kind_of(task["kind"]).live_ratio(task, objective.options) if task else None
        if live is not None:
            return live
    counted = sum(n for state, n in counts.items() if state != "cancelled")
    return done / counted if counted else 0.0


def check_at_risk(rs: RunView) -> set[str]:
    """Once per objective: `objective.at_risk` when three quarters of its time have passed (or
    all of it) and it is not met. The runner looks at every wake (at least once a second); it
    is also then, never in a check-off's transaction, that coverage objectives are measured
    and marked reached. Returns the objectives reached now."""
    if not rs.plan.objectives:
        return set()
    met = rs.tx.objectives_met(rs.run_id)
    reached = set()
    for objective in rs.plan.objectives:
        if objective.queue is None or objective.id in met:
            continue
        value = objective_value(rs.tx, rs.run, objective, rs.now)
        if value >= objective.target:
            rs.tx.mark_objective(rs.run_id, objective.id, rs.now)
            announce(rs, "objective.reached", objective, value)
            reached.add(objective.id)
    met = {**met, **{oid: rs.now for oid in reached}}
    flagged = {(e["data"] or {}).get("objective") for e in rs.tx.events_named(rs.run_id, "objective.at_risk")}
    for objective in rs.plan.objectives:
        if objective.id in met or objective.id in flagged:
            continue
        if rs.now < rs.run["started_at"] + rs.scaled(int(objective.within * AT_RISK)):
            continue
        value = objective_value(rs.tx, rs.run, objective, rs.now)
        if value < objective.target:
            announce(rs, "objective.at_risk", objective, value)
    return reached


def check_objectives(rs: RunView) -> set[str]:
    """Objectives over the steps that changed: reached ones are marked (once) and announced.
    Coverage objectives are not looked at here (see check_at_risk). Returns those reached."""
    changed = rs.changed_steps
    if not any(o.step in changed for o in rs.plan.objectives if o.queue is None):
        return set()
    met = rs.tx.objectives_met(rs.run_id)
    reached = set()
    for objective in rs.plan.objectives:
        if objective.queue is not None or objective.id in met or objective.step not in changed:
            continue
        value = objective_value(rs.tx, rs.run, objective)
        if value >= objective.target:
            rs.tx.mark_objective(rs.run_id, objective.id, rs.now)
            announce(rs, "objective.reached", objective, value)
            reached.add(objective.id)
    return reached


def announce(rs: RunView, event: str, objective: PlannedObjective, value: float) -> None:
    """The event (and its notifications); over a roll call it says how many are still
    unaccounted and links the call list: never "all clear" while people are missing."""
    deadline = rs.run["started_at"] + rs.scaled(objective.within)
    step = rs.plan.find(objective.step) if objective.queue is None else None
    extra = kind_of(step.kind).objective_news(rs, step) if step is not None else {}
    rs.event(
        event,
        objective=objective.id,
        name=objective.name,
        value=value,
        target=objective.target,
        measure=objective.measure,
        deadline=deadline.isoformat(),
        **extra,
    )
