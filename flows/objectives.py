"""Objectives of a run: their value from the store (a count of done tasks, or a ratio — a
roll call's accounted share, or the share whose answer counts), `objective.reached` once when
a change meets one (once met it stays met while its value moves), `objective.at_risk` once
when three quarters of its time passed and it is not met."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runbooks.plan import PlannedObjective

from .kinds import kind_of
from .runview import RunView
from .store import Reader

AT_RISK = 0.75  # share of an objective's time after which, not met, it is at risk


def objective_value(reader: Reader, run: Mapping[str, Any], objective: PlannedObjective) -> float:
    done = reader.count_tasks(run["id"], steps=[objective.step], states=["done"])
    if objective.measure == "count":
        return float(done)
    rows = reader.tasks(run["id"], steps=[objective.step])
    if len(rows) == 1:  # a single task: its kind may know a live value (a roll call's accounted share)
        live = kind_of(rows[0]["kind"]).live_ratio(rows[0], objective.options)
        if live is not None:
            return live
    counted = [r for r in rows if r["state"] != "cancelled"]
    return done / len(counted) if counted else 0.0


def check_at_risk(rs: RunView) -> None:
    """Once per objective: `objective.at_risk` when three quarters of its time have passed (or
    all of it) and it is not met. The runner looks at every wake (at least once a second)."""
    if not rs.plan.objectives:
        return
    met = rs.tx.objectives_met(rs.run_id)
    flagged = {(e["data"] or {}).get("objective") for e in rs.tx.events_named(rs.run_id, "objective.at_risk")}
    for objective in rs.plan.objectives:
        if objective.id in met or objective.id in flagged:
            continue
        if rs.now < rs.run["started_at"] + rs.scaled(int(objective.within * AT_RISK)):
            continue
        value = objective_value(rs.tx, rs.run, objective)
        if value < objective.target:
            _announce(rs, "objective.at_risk", objective, value)


def check_objectives(rs: RunView) -> None:
    """Objectives over the steps that changed: reached ones are marked (once) and announced."""
    changed = rs.changed_steps
    if not any(o.step in changed for o in rs.plan.objectives):
        return
    met = rs.tx.objectives_met(rs.run_id)
    for objective in rs.plan.objectives:
        if objective.id in met or objective.step not in changed:
            continue
        value = objective_value(rs.tx, rs.run, objective)
        if value >= objective.target:
            rs.tx.mark_objective(rs.run_id, objective.id, rs.now)
            _announce(rs, "objective.reached", objective, value)


def _announce(rs: RunView, event: str, objective: PlannedObjective, value: float) -> None:
    """The event (and its notifications); over a roll call it says how many are still
    unaccounted and links the call list: never "all clear" while people are missing."""
    deadline = rs.run["started_at"] + rs.scaled(objective.within)
    step = rs.plan.find(objective.step)
    extra = kind_of(step.kind).objective_news(rs, step) if step is not None else {}
    rs.event(
        event,
        objective=objective.id,
        name=objective.name,
        value=value,
        target=objective.target,
        deadline=deadline.isoformat(),
        **extra,
    )
