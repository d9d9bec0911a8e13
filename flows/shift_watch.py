"""Re-planning on supply change, on the runner's look at the clock: a run's done `shifts` tasks +
who is eligible and supplied now → the task back to ready (the runner solves again, keeping
acknowledged shifts and those under way) when that differs from what its plan was made with.
Never inside a check-off's transaction."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from typing import Any

from runbooks.expressions import ExpressionError, render_value
from runbooks.plan import PlannedStep

from . import shift_roster
from .coverage import supply_of
from .runview import RunView

_SEEN: dict[tuple[str, str], int] = {}  # (run, step) → the run's last event seq checked
_LOCK = threading.Lock()


def eligible_ids(value: Any) -> list[str]:
    """`from:` rendered: staff ids or roster rows → ids, once each, in order."""
    if not isinstance(value, list | tuple):
        return []
    out: dict[str, None] = {}
    for p in value:
        pid = p.get("id") if isinstance(p, Mapping) else p
        if pid is not None and str(pid):
            out[str(pid)] = None
    return list(out)


def supply_digest(rs: RunView, step: PlannedStep, task: Mapping[str, Any]) -> str:
    """Who is eligible and who is supplied to the queue now, as one digest."""
    try:
        eligible = eligible_ids(render_value(step.params["from"], rs.context(step, task)))
    except ExpressionError:
        eligible = []
    queue = rs.plan.site.service.get(step.params["queue"])
    supplied = sorted(supply_of(rs.tx, rs.run_id, queue).people) if queue is not None else []
    text = "|".join(sorted(eligible)) + "#" + "|".join(supplied)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_supply(rs: RunView) -> None:
    steps = [s for s in rs.plan.steps if s.kind == "shifts"]
    if not steps:
        return
    seq = rs.tx.last_event_seq(rs.run_id)
    for step in steps:
        with _LOCK:
            if _SEEN.get((rs.run_id, step.id)) == seq:
                continue
            if len(_SEEN) > 4096:
                _SEEN.clear()
            _SEEN[(rs.run_id, step.id)] = seq
        task = next(iter(rs.tx.tasks(rs.run_id, steps=[step.id], states=["done"])), None)
        if task is None or "digest" not in (task["outputs"] or {}):
            continue
        if supply_digest(rs, step, task) != task["outputs"]["digest"]:
            shift_roster.replan(rs, step.id, "its supply changed: who is eligible or staffed")
