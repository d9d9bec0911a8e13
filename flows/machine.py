"""Task state machine: a run's Plan + its task rows (inside one transaction) → the transitions
that follow a change: tasks created, made actionable (`waiting` for people, `ready` for the
runner), skipped by condition or upstream outcome, the run finished, objectives reached.

States (DESIGN.md §4): pending → ready → running → done (automated); pending → waiting → done
(human); also failed, rejected, skipped, cancelled. Per-item needs wait for the same item;
other needs wait for every item of the step.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from runbooks.expressions import EXPR_RE, ExpressionError, render_value
from runbooks.plan import Plan, PlannedStep, plan_from_text
from runbooks.sites import Site

from . import muster, notify, pools, timers
from .errors import Invalid
from .store import Tx

TERMINAL = frozenset({"done", "failed", "rejected", "skipped", "cancelled"})
ACTIVE = frozenset({"waiting", "ready", "running"})
UNSUCCESSFUL = frozenset({"failed", "rejected", "skipped", "cancelled"})
STATES = ("pending", "ready", "running", "waiting", "done", "failed", "rejected", "skipped", "cancelled")


_PLANS: dict[tuple[str, str], Plan] = {}
_PLANS_LOCK = threading.Lock()


def plan_of(run: Mapping[str, Any], reader: Any = None) -> Plan:
    """The run's Plan, rebuilt from the runbook text and site snapshot stored with it. Cached
    per run: a run's source, site and inputs never change. `run` may be a `run_head` row
    without the source, if `reader` can fetch it on a cache miss."""
    key = (run["id"], run["source_hash"])
    with _PLANS_LOCK:
        plan = _PLANS.get(key)
    if plan is None:
        full = run if "source" in run else reader.run(run["id"])
        plan = plan_from_text(
            full["source"], full["runbook_path"], Site.from_snapshot(full["site_snapshot"]), full["inputs"]
        )
        with _PLANS_LOCK:
            if len(_PLANS) >= 256:
                _PLANS.pop(next(iter(_PLANS)))
            _PLANS[key] = plan
    return plan


def task_id_of(step_id: str, item_key: str | None) -> str:
    return step_id if item_key is None else f"{step_id}:{item_key}"


@dataclass
class RunState:
    """One run inside one transaction: its row, Plan, and what changed (for events)."""

    tx: Tx
    run: dict[str, Any]
    plan: Plan
    now: datetime
    actor: str
    changed: set[tuple[str, str | None]] = field(default_factory=set)  # (step, item key) of changed tasks
    idem: tuple[str, str] | None = None  # (key, request fingerprint) of an Idempotency-Key
    _site_context: dict[str, Any] | None = None

    @property
    def run_id(self) -> str:
        return self.run["id"]

    @property
    def changed_steps(self) -> set[str]:
        return {step for step, _ in self.changed}

    def site_context(self) -> dict[str, Any]:
        if self._site_context is None:
            self._site_context = self.plan.site.context()
        return self._site_context

    def scaled(self, seconds: int | None) -> timedelta | None:
        if seconds is None:
            return None
        return timedelta(seconds=seconds / float(self.run["time_scale"] or 1))

    def event(self, event: str, task_id: str | None = None, /, **data: Any) -> None:
        self.tx.insert_event(
            {
                "run_id": self.run_id,
                "site_id": self.run["site_id"],
                "name": event,
                "task_id": task_id,
                "at": self.now,
                "data": data or None,
            }
        )
        notify.announce(self, event, task_id, data)

    def audit(
        self, action: str, target: str | None = None, reason: str | None = None, actor: str | None = None, **detail: Any
    ) -> None:
        self.tx.append_audit(
            self.run_id,
            actor=actor or self.actor,
            action=action,
            target=target,
            reason=reason,
            detail=detail or None,
            at=self.now,
        )

    def context(self, step: PlannedStep | None, task: Mapping[str, Any] | None = None) -> dict[str, Any]:
        ctx = {
            "inputs": dict(self.plan.inputs),
            "site": self.site_context(),
            "run": {"id": self.run_id, "drill": self.run["drill"], "started_at": self.run["started_at"].isoformat()},
            "steps": StepsView(self, step, task["item_key"] if task else None),
        }
        if step is not None and step.fan_out and task is not None:
            ctx[step.as_] = task["item"]
        return ctx


class StepsView(Mapping):
    """`steps.<id>` for expressions, read from the store on demand. Inside an item's pipeline a
    fan-out step with the same `for_each` means the same item's task."""

    # Private names only: expressions must not reach the run state or the transaction.
    def __init__(self, rs: RunState, step: PlannedStep | None, item_key: str | None):
        self._rs, self._item_key = rs, item_key
        self._same_items = {
            s.id for s in rs.plan.steps if step is not None and step.fan_out and s.for_each == step.for_each
        }
        self._cache: dict[str, Any] = {}

    def __getitem__(self, step_id: str) -> Any:
        if step_id not in self._cache:
            self._cache[step_id] = self._load(step_id)
        return self._cache[step_id]

    def _load(self, step_id: str) -> Any:
        if step_id not in self._rs.plan._by_id:
            raise KeyError(step_id)
        step = self._rs.plan.step(step_id)
        if not step.fan_out or (self._item_key is not None and step_id in self._same_items):
            task = self._rs.tx.task(self._rs.run_id, task_id_of(step_id, self._item_key if step.fan_out else None))
            if task is None:
                raise KeyError(step_id)
            outputs = task["outputs"] or {}
            if step.kind == "muster" and task["state"] == "waiting":  # groups read when an expression needs them
                outputs = muster.full_outputs(self._rs.tx, self._rs.run_id, step, self._rs.plan.site)
            return {**outputs, "state": task["state"], "outputs": outputs}
        rows = self._rs.tx.tasks(self._rs.run_id, steps=[step_id])
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["state"]] = counts.get(r["state"], 0) + 1
        return {
            "state": "done" if rows and set(counts) <= TERMINAL else "pending",
            "outputs": {},
            "items": {r["item_key"]: {"state": r["state"], "outputs": r["outputs"] or {}} for r in rows},
            "counts": counts,
        }

    def __contains__(self, step_id: object) -> bool:
        return step_id in self._rs.plan._by_id

    def __iter__(self):
        return iter(self._rs.plan._by_id)

    def __len__(self) -> int:
        return len(self._rs.plan._by_id)


# --- creation ----------------------------------------------------------------------------------


def item_key_of(rs: RunState, step: PlannedStep, item: Any) -> str:
    ctx = {"inputs": dict(rs.plan.inputs), "site": rs.site_context(), step.as_: item}
    key = render_value(step.key, ctx)
    return str(key).replace("/", "_")


def new_task(rs: RunState, step: PlannedStep, item_key: str | None = None, item: Any = None) -> dict[str, Any]:
    row = {
        "run_id": rs.run_id,
        "id": task_id_of(step.id, item_key),
        "step_id": step.id,
        "item_key": item_key,
        "item": item,
        "title": step.name,
        "kind": step.kind,
        "state": "pending",
        "owner": None,
        "adhoc": False,
        "created_at": rs.now,
        "attempt": 0,
    }
    # Until its upstream is done a title may not render: show the text with "…" in place.
    row["title"] = _render_or(rs, step, row, step.name, EXPR_RE.sub("…", step.name))
    row["owner"] = _owner(rs, step, row)
    return row


def _render_or(rs: RunState, step: PlannedStep, task: Mapping[str, Any], value: Any, fallback: Any) -> Any:
    try:
        return render_value(value, rs.context(step, task))
    except ExpressionError:
        return fallback


def _owner(rs: RunState, step: PlannedStep, task: Mapping[str, Any]) -> str | None:
    owner = step.owner
    if owner is None or "${{" not in owner:
        return owner
    value = _render_or(rs, step, task, owner, None)
    if isinstance(value, Mapping):
        value = value.get("id")
    if value is None:
        return None
    value = str(value)
    return value if ":" in value else f"person:{value}"


def create_tasks(rs: RunState) -> None:
    """At start: a task per single step, items for each fan-out whose collection is known."""
    step_rows, task_rows = [], []
    for step in rs.plan.steps:
        static = step.fan_out and not step.streams_from and not _uses_steps(step.for_each)
        step_rows.append(
            {
                "run_id": rs.run_id,
                "step_id": step.id,
                "expanded": not step.fan_out or static or bool(step.streams_from),
                "closed": not step.fan_out or static,
            }
        )
        if not step.fan_out:
            task_rows.append(new_task(rs, step))
        elif static:
            try:
                task_rows += expand_items(rs, step, render_value(_as_list(step.for_each), rs.context(None)))
            except ExpressionError as e:
                raise Invalid(f'step "{step.id}" ({Path(rs.plan.path).name}:{step.line}): {e}') from None
    rs.tx.insert_run_steps(step_rows)
    rs.tx.insert_tasks(task_rows)


def _uses_steps(for_each: Any) -> bool:
    return isinstance(for_each, str) and "steps" in for_each


def _as_list(for_each: Any) -> Any:
    return list(for_each) if isinstance(for_each, tuple) else for_each


def expand_items(rs: RunState, step: PlannedStep, items: Any) -> list[dict[str, Any]]:
    if isinstance(items, tuple):
        items = list(items)
    if not isinstance(items, list):
        raise ExpressionError(f'for_each of step "{step.id}" gave {type(items).__name__}, not a list')
    rows, seen = [], set()
    for item in items:
        key = item_key_of(rs, step, item)
        if key in seen:  # two items with one key would be one task id; keep the first
            continue
        seen.add(key)
        rows.append(new_task(rs, step, key, item))
    return rows


# --- advancing ---------------------------------------------------------------------------------


def advance(rs: RunState, changed: Iterable[tuple[str, str | None]] | None = None) -> None:
    """Re-evaluate the work that waits on the changed tasks, given as (step, item key) pairs;
    None at start: every step, in dependency order. Per-item dependents are looked up by item,
    so one check-off costs the same with 10 or 10,000 items."""
    if changed is None:
        run_steps = _RunSteps(rs)
        for step in rs.plan.steps:
            _evaluate_step(rs, step, run_steps)
        work = set(rs.changed)
    else:
        work = set(changed)
    for _ in range(len(rs.plan.steps) + 1):  # the graph is acyclic: each round moves forward
        if not work:
            return
        before = set(rs.changed)
        run_steps = _RunSteps(rs)
        for step_id, key in sorted(work, key=lambda p: (p[0], p[1] or "")):
            need = rs.plan._by_id.get(step_id)
            for dependent in rs.plan.dependents(step_id) if need else []:
                if key is not None and step_id in dependent.item_needs and run_steps[dependent.id]["expanded"]:
                    task = rs.tx.task(rs.run_id, task_id_of(dependent.id, key))
                    if task is not None and task["state"] == "pending":
                        _evaluate(rs, dependent, task, run_steps)
                elif _need_state(rs, need, None, run_steps) != "wait":
                    _evaluate_step(rs, dependent, run_steps)
        work = rs.changed - before


class _RunSteps(dict):
    """The run's step rows, read on first use: a per-item check-off never needs them."""

    def __init__(self, rs: RunState):
        super().__init__()
        self._rs, self._loaded = rs, False

    def __missing__(self, step_id: str) -> dict[str, Any]:
        if not self._loaded:
            self._loaded = True
            self.update(self._rs.tx.run_steps(self._rs.run_id))
        return dict.__getitem__(self, step_id)


def _evaluate_step(rs: RunState, step: PlannedStep, run_steps) -> None:
    if not run_steps[step.id]["expanded"]:
        _expand_dynamic(rs, step, run_steps)
        return
    for task in rs.tx.tasks(rs.run_id, steps=[step.id], states=["pending"]):
        _evaluate(rs, step, task, run_steps)


def _need_state(rs: RunState, need: PlannedStep, item_key: str | None, run_steps) -> str:
    """'ok', 'wait' or an unsuccessful state that skips the dependent."""
    if item_key is not None:  # per-item need: the same item of the needed step
        task = rs.tx.task(rs.run_id, task_id_of(need.id, item_key))
        return _single(task)
    if not need.fan_out:
        return _single(rs.tx.task(rs.run_id, need.id))
    info = run_steps[need.id]
    if not (info["expanded"] and info["closed"]):
        return "wait"
    if rs.tx.count_tasks(rs.run_id, steps=[need.id], states=["pending", *ACTIVE]):
        return "wait"
    # Items end on their own (one rejected agent does not stop the rest), but when every item
    # of a non-empty fan-out ended without success, there is nothing to build on.
    total = rs.tx.count_tasks(rs.run_id, steps=[need.id])
    done = rs.tx.count_tasks(rs.run_id, steps=[need.id], states=["done"])
    return "skipped" if total and not done else "ok"


def _single(task: Mapping[str, Any] | None) -> str:
    if task is None or task["state"] not in TERMINAL:
        return "wait"
    return "ok" if task["state"] == "done" else task["state"]


def _needs_met(rs: RunState, step: PlannedStep, item_key: str | None, run_steps) -> tuple[str, str | None]:
    for need_id in step.needs:
        per_item = need_id in step.item_needs
        state = _need_state(rs, rs.plan.step(need_id), item_key if per_item else None, run_steps)
        if state == "wait":
            return "wait", None
        if state != "ok":
            return "skip", f"upstream {task_id_of(need_id, item_key if per_item else None)} was {state}"
    return "ok", None


def _evaluate(rs: RunState, step: PlannedStep, task: Mapping[str, Any], run_steps) -> bool:
    verdict, why = _needs_met(rs, step, task["item_key"], run_steps)
    if verdict == "wait":
        return False
    if verdict == "skip":
        return set_state(rs, task, "skipped", reason=why)
    if step.if_ is False:
        return set_state(rs, task, "skipped", reason="condition is false")
    if isinstance(step.if_, str):
        try:
            go = bool(render_value(step.if_, rs.context(step, task)))
        except ExpressionError as e:
            return set_state(rs, task, "failed", reason=f"if: {e}")
        if not go:
            return set_state(rs, task, "skipped", reason="condition is false")
    return make_actionable(rs, step, task)


def make_actionable(rs: RunState, step: PlannedStep, task: Mapping[str, Any]) -> bool:
    state = "waiting" if step.human else "ready"
    values: dict[str, Any] = {
        "state": state,
        "actionable_at": rs.now,
        "title": _render_or(rs, step, task, step.name, task["title"]),
        "owner": task["owner"] or _owner(rs, step, task),
    }
    if step.due is not None:
        values["due_at"] = rs.now + rs.scaled(step.due)  # type: ignore[operator]
    if state == "ready":
        values["next_attempt_at"] = rs.now
    else:
        values["timer_at"] = timers.next_timer(rs, step, {**task, **values, "reminders": 0, "escalated_at": None})
    if not rs.tx.update_task(rs.run_id, task["id"], expect=["pending"], **values):
        return False
    rs.changed.add((step.id, task["item_key"]))
    if state == "waiting":
        rs.event(
            "approval.requested" if step.kind == "approval" else "task.assigned",
            task["id"],
            owner=values["owner"],
            title=values["title"],
        )
        if step.kind == "muster":
            muster.open_roll_call(rs, step, {**task, **values})
    elif step.kind == "notify":
        _notify_now(rs, step, {**task, **values})
    elif step.kind == "allocate":
        pools.allocate(rs, step, {**task, **values, "state": "ready"})
    return True


def _notify_now(rs: RunState, step: PlannedStep, task: dict[str, Any]) -> None:
    """A notify step is done when its messages are in the outbox, in this transaction: the
    dispatcher delivers them (retried, never lost), so no runner is needed."""
    context = rs.context(step, task)
    sent = notify.queue(
        rs.tx,
        site=rs.plan.site,
        run=rs.run,
        event="notify",
        now=rs.now,
        task=task,
        targets=notify.targets_of(step.params.get("to"), context),
        context={**context, "runbook_name": rs.plan.name},
        body=step.params,
        templates=rs.plan.templates,
        send_in_drill=step.drill == "send",
    )
    set_state(rs, task, "done", outputs={"sent": sent}, by="engine", expect=["ready"])


def set_state(
    rs: RunState,
    task: Mapping[str, Any],
    state: str,
    *,
    reason: str | None = None,
    by: str | None = None,
    outputs: Mapping[str, Any] | None = None,
    note: str | None = None,
    expect: Iterable[str] | None = None,
) -> bool:
    values: dict[str, Any] = {"state": state, "reason": reason}
    if state in TERMINAL:
        values.update(ended_at=rs.now, ended_by=by)
    if outputs is not None:
        values["outputs"] = dict(outputs)
    if note is not None:
        values["note"] = note
    ok = rs.tx.update_task(rs.run_id, task["id"], expect=list(expect) if expect else [task["state"]], **values)
    if ok and task["kind"] == "allocate" and state in ("cancelled", "skipped", "failed"):
        pools.release(rs, task, reason or state)
    if ok:
        rs.changed.add((task["step_id"], task["item_key"]))
        if state in ("done", "failed"):
            rs.event(f"task.{state}", task["id"], state=state)
        elif state in UNSUCCESSFUL:
            rs.event("task.done", task["id"], state=state, reason=reason)
    return ok


def _expand_dynamic(rs: RunState, step: PlannedStep, run_steps) -> bool:
    """A fan-out over another step's outputs gets its items once its needs are met."""
    verdict, why = _needs_met(rs, step, None, run_steps)
    if verdict == "wait":
        return False
    items: list[dict[str, Any]] = []
    if verdict == "ok":
        try:
            items = expand_items(rs, step, render_value(_as_list(step.for_each), rs.context(step)))
        except ExpressionError as e:
            failed = new_task(rs, step)
            rs.tx.insert_tasks([{**failed, "state": "failed", "reason": f"for_each: {e}", "ended_at": rs.now}])
            rs.event("task.failed", failed["id"], reason=str(e))
    else:  # upstream skipped or failed: one skipped row says so, and its dependents see it
        skipped = new_task(rs, step)
        rs.tx.insert_tasks([{**skipped, "state": "skipped", "reason": why, "ended_at": rs.now}])
    rs.tx.insert_tasks(items)
    rs.tx.update_run_step(rs.run_id, step.id, expanded=True, closed=True)
    run_steps[step.id] = {**run_steps[step.id], "expanded": True, "closed": True}
    rs.changed.add((step.id, None))
    for task in items:
        _evaluate(rs, step, task, run_steps)
    return True


# --- the run as a whole ------------------------------------------------------------------------


def finish_if_done(rs: RunState) -> None:
    if rs.run["state"] != "running":
        return
    if rs.tx.count_tasks(rs.run_id, states=["pending", *ACTIVE]):
        return
    if not all(r["closed"] for r in rs.tx.run_steps(rs.run_id).values()):
        return
    failed = rs.tx.count_tasks(rs.run_id, states=["failed"])
    state = "failed" if failed else "completed"
    rs.tx.update_run(rs.run_id, state=state, ended_at=rs.now)
    rs.run["state"] = state
    rs.audit(f"run.{state}", reason=f"{failed} task(s) failed" if failed else None, actor="engine")
    rs.event(f"run.{state}")


def objective_value(rs_or_reader, run: Mapping[str, Any], objective) -> float:
    reader = rs_or_reader
    if objective.measure == "count":
        return float(reader.count_tasks(run["id"], steps=[objective.step], states=["done"]))
    done = reader.count_tasks(run["id"], steps=[objective.step], states=["done"])
    roll_call = reader.tasks(run["id"], steps=[objective.step])
    if len(roll_call) == 1 and roll_call[0]["kind"] == "muster":  # live, while people answer
        accounted = (roll_call[0]["outputs"] or {}).get("accounted")
        return float(accounted) if isinstance(accounted, (int, float)) else 0.0
    total = reader.count_tasks(run["id"], steps=[objective.step], states=[s for s in STATES if s != "cancelled"])
    return done / total if total else 0.0


AT_RISK = 0.75  # share of an objective's time after which, not met, it is at risk


def check_at_risk(rs: RunState) -> None:
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
            deadline = rs.run["started_at"] + rs.scaled(objective.within)
            rs.event(
                "objective.at_risk",
                objective=objective.id,
                name=objective.name,
                value=value,
                target=objective.target,
                deadline=deadline.isoformat(),
            )


def check_objectives(rs: RunState) -> None:
    if not any(o.step in rs.changed_steps for o in rs.plan.objectives):
        return
    met = rs.tx.objectives_met(rs.run_id)
    for objective in rs.plan.objectives:
        if objective.id in met or objective.step not in rs.changed_steps:
            continue
        value = objective_value(rs.tx, rs.run, objective)
        if value >= objective.target:
            rs.tx.mark_objective(rs.run_id, objective.id, rs.now)
            deadline = rs.run["started_at"] + rs.scaled(objective.within)
            rs.event(
                "objective.reached",
                objective=objective.id,
                name=objective.name,
                value=value,
                target=objective.target,
                deadline=deadline.isoformat(),
            )
