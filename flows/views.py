"""Views: store rows → the JSON shapes of the contract (docs/cli.md: a run has id, runbook,
site, state, drill, counts, objectives; a task has id, step, item, state, owner, overdue)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from runbooks.plan import Plan

from .objectives import objective_value
from .progress import progress, total
from .states import ACTIVE


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def task_json(t: Mapping[str, Any], now: datetime, plan: Plan | None = None) -> dict[str, Any]:
    """A task; with its run's `plan`, an `allocate` task also carries its `asset`."""
    overdue = bool(t["due_at"] and t["state"] in ACTIVE and now > t["due_at"])
    out = {
        "id": t["id"],
        "step": t["step_id"],
        "item": t["item_key"],
        "state": t["state"],
        "owner": t["owner"],
        "overdue": overdue,
        "title": t["title"],
        "kind": t["kind"],
        "actionable_at": iso(t["actionable_at"]),
        "due_at": iso(t["due_at"]),
        "ended_at": iso(t["ended_at"]),
        "ended_by": t["ended_by"],
        "outputs": t["outputs"],
        "note": t["note"],
        "reason": t["reason"],
        "adhoc": bool(t["adhoc"]),
    }
    if plan is not None and t["kind"] == "allocate":
        out["asset"] = asset_of(plan, t)
    return out


def asset_of(plan: Plan, t: Mapping[str, Any]) -> dict[str, Any] | None:
    """The pool item an `allocate` task holds (or held): `{pool, key, columns, handed_over}`, the
    columns those of the pool but its key and status (the CSV's status is the stock's, not this
    item's). None before an item was taken."""
    step = plan.find(t["step_id"])
    pool = plan.site.pools.get(str(step.params.get("pool"))) if step is not None else None
    outputs = t["outputs"] or {}
    if pool is None or not outputs.get(pool.key):
        return None
    return {
        "pool": pool.id,
        "key": outputs[pool.key],
        "columns": {c: outputs.get(c) for c in pool.columns if c not in (pool.key, "status")},
        "handed_over": outputs.get("handed_over"),
    }


def run_json(
    reader, run: Mapping[str, Any], plan: Plan, by_step: Mapping[str, Mapping[str, int]] | None = None
) -> dict[str, Any]:
    """`by_step`: the run's task counts by step and state, when the caller has them already."""
    by_step = reader.counts_by_step(run["id"]) if by_step is None else by_step
    counts = total(by_step.values())
    met = reader.objectives_met(run["id"])
    scale = float(run["time_scale"] or 1)
    objectives = []
    for o in plan.objectives:
        value = objective_value(reader, run, o, by_step=by_step)
        objectives.append(
            {
                "id": o.id,
                "name": o.name,
                "value": value,
                "target": o.target,
                "met": o.id in met,
                "met_at": iso(met.get(o.id)),
                "deadline": iso(run["started_at"] + timedelta(seconds=o.within / scale)),
            }
        )
    return {
        "id": run["id"],
        "runbook": run["runbook_id"],
        "name": plan.name,
        "version": run["runbook_version"],
        "site": run["site_id"],
        "state": run["state"],
        "drill": bool(run["drill"]),
        "started_at": iso(run["started_at"]),
        "started_by": run["started_by"],
        "ended_at": iso(run["ended_at"]),
        "reason": run["reason"],
        "counts": counts,
        "progress": progress(counts),
        "steps": by_step,
        "objectives": objectives,
        "inputs": run["inputs"],
        "time_scale": scale,
    }


def notification_json(n: Mapping[str, Any]) -> dict[str, Any]:
    """An outbox row for managers: where it goes and how delivery went (no contact address)."""
    return {
        "id": n["key"],
        "event": n["event"],
        "site": n["site_id"],
        "run": n["run_id"],
        "task": n["task_id"],
        "recipient": n["recipient"],
        "channel": n["channel"],
        "kind": n["channel_spec"].get("kind"),
        "lang": n["lang"],
        "subject": n["message"].get("subject"),
        "state": n["state"],
        "attempts": n["attempts"],
        "created_at": iso(n["created_at"]),
        "sent_at": iso(n["sent_at"]),
        "next_attempt_at": iso(n["next_attempt_at"]) if n["state"] == "pending" else None,
        "error": n["last_error"],
    }
