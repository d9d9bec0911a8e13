"""Task state machine: a run's Plan + its task rows (inside one transaction, a RunState) → what
follows a change: tasks created, made actionable (`waiting` for people, `ready` for the runner
or the engine), skipped by condition or upstream outcome, the run finished. `settle` is the
one step after every change (flows/session.py calls it before each commit).

Per-item needs wait for the same item; other needs wait for every item of the step, and a
dependent is skipped only if no item of a non-empty fan-out succeeded. What a kind does is
its plug-in's (flows/kinds/); which state may follow which is flows/states.py's table.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from runbooks.expressions import ExpressionError, render_value
from runbooks.plan import PlannedStep

from . import coverage_watch, objectives, shift_watch, timers
from .errors import Invalid
from .kinds import kind_of
from .runstate import RunState
from .states import OPEN, TERMINAL, create, task_id_of, transition, transition_run

# --- creation ----------------------------------------------------------------------------------


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
            task_rows.append(rs.new_task(step))
        elif static:
            try:
                task_rows += expand_items(rs, step, render_value(_as_list(step.for_each), rs.context(None)))
            except ExpressionError as e:
                raise Invalid(f'step "{step.id}" ({Path(rs.plan.path).name}:{step.line}): {e}') from None
    rs.tx.insert_run_steps(step_rows)
    create(rs, task_rows)
    rs.created.clear()  # at start every step is evaluated in dependency order (advance(rs, None))


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
        key = rs.item_key_of(step, item)
        if key in seen:  # two items with one key would be one task id; keep the first
            continue
        seen.add(key)
        rows.append(rs.new_task(step, key, item))
    return rows


# --- the settle step -----------------------------------------------------------------------------


def settle(rs: RunState) -> None:
    """After every change to a run, inside its transaction: what the change sets off. Kinds hear
    about their tasks that ended without success (an allocation goes back to its pool), new
    items are evaluated, dependents advance, objectives are checked (and, on the runner's look
    at the clock, those at risk), and the run ends when nothing is left to do."""
    if rs.run["state"] != "running":  # cancelled in this transaction: nothing more starts
        for task in rs.ended:
            kind_of(task["kind"]).on_ended(rs, task)
        rs.ended.clear()
        return
    for _ in range(len(rs.plan.steps) + 2):  # each round moves forward in an acyclic graph
        while rs.ended:
            task = rs.ended.pop(0)
            kind_of(task["kind"]).on_ended(rs, task)
        created, rs.created = rs.created, []
        run_steps = _RunSteps(rs)
        for row in created:
            step = rs.plan.find(row["step_id"])
            if step is not None:
                _evaluate(rs, step, row, run_steps)
        advance(rs, rs.changed)
        if not (rs.ended or rs.created):
            break
    reached = objectives.check_objectives(rs)
    if rs.timed:
        reached |= objectives.check_at_risk(rs)
        coverage_watch.check_gaps(rs)
        shift_watch.check_supply(rs)
    if reached:  # steps that need an objective (`needs: [objective:<id>]`) may go now
        run_steps = _RunSteps(rs)
        for step in rs.plan.steps:
            if reached & set(step.objective_needs):
                _evaluate_step(rs, step, run_steps)
        advance(rs, rs.changed)
    finish_if_done(rs)


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
            need = rs.plan.find(step_id)
            if need is None:
                continue
            for dependent in rs.plan.dependents(step_id):
                if key is not None and step_id in dependent.item_needs and run_steps[dependent.id]["expanded"]:
                    task = rs.tx.task(rs.run_id, task_id_of(dependent.id, key))
                    if task is not None and task["state"] == "pending":
                        _evaluate(rs, dependent, task, run_steps)
                elif _need_state(rs, need, None, run_steps) != "wait":
                    _evaluate_step(rs, dependent, run_steps)
        work = rs.changed - before


class _RunSteps(dict[str, dict[str, Any]]):
    """The run's step rows, read on first use: a per-item check-off never needs them."""

    def __init__(self, rs: RunState):
        super().__init__()
        self._rs, self._loaded = rs, False

    def __missing__(self, step_id: str) -> dict[str, Any]:
        if not self._loaded:
            self._loaded = True
            self.update(self._rs.tx.run_steps(self._rs.run_id))
        return dict.__getitem__(self, step_id)


def _evaluate_step(rs: RunState, step: PlannedStep, run_steps: _RunSteps) -> None:
    if not run_steps[step.id]["expanded"]:
        _expand_dynamic(rs, step, run_steps)
        return
    for task in rs.tx.tasks(rs.run_id, steps=[step.id], states=["pending"]):
        _evaluate(rs, step, task, run_steps)


def _need_state(rs: RunState, need: PlannedStep, item_key: str | None, run_steps: _RunSteps) -> str:
    """'ok', 'wait' or an unsuccessful state that skips the dependent."""
    if item_key is not None:  # per-item need: the same item of the needed step
        return _single(rs.tx.task(rs.run_id, task_id_of(need.id, item_key)))
    if not need.fan_out:
        return _single(rs.tx.task(rs.run_id, need.id))
    info = run_steps[need.id]
    if not (info["expanded"] and info["closed"]):
        return "wait"
    if rs.tx.count_tasks(rs.run_id, steps=[need.id], states=sorted(OPEN), late=False):
        return "wait"  # items of late roll-call answers hold back nothing (flows/muster.py)
    # Items end on their own (one rejected agent does not stop the rest), but when every item
    # of a non-empty fan-out ended without success, there is nothing to build on.
    total = rs.tx.count_tasks(rs.run_id, steps=[need.id])
    done = rs.tx.count_tasks(rs.run_id, steps=[need.id], states=["done"])
    return "skipped" if total and not done else "ok"


def _single(task: dict[str, Any] | None) -> str:
    if task is None or task["state"] not in TERMINAL:
        return "wait"
    return "ok" if task["state"] == "done" else str(task["state"])


def _needs_met(rs: RunState, step: PlannedStep, item_key: str | None, run_steps: _RunSteps) -> tuple[str, str | None]:
    if step.objective_needs and not set(step.objective_needs) <= set(rs.tx.objectives_met(rs.run_id)):
        return "wait", None
    for need_id in step.needs:
        per_item = need_id in step.item_needs
        state = _need_state(rs, rs.plan.step(need_id), item_key if per_item else None, run_steps)
        if state == "wait":
            return "wait", None
        if state != "ok":
            return "skip", f"upstream {task_id_of(need_id, item_key if per_item else None)} was {state}"
    return "ok", None


def _evaluate(rs: RunState, step: PlannedStep, task: dict[str, Any], run_steps: _RunSteps) -> bool:
    """A pending task whose needs may be met: skip it, fail it (a broken `if`) or make it actionable."""
    verdict, why = _needs_met(rs, step, task["item_key"], run_steps)
    if verdict == "wait":
        return False
    if verdict == "skip":
        return transition(rs, task, "skipped", reason=why, expect=["pending"])
    if step.if_ is False:
        return transition(rs, task, "skipped", reason="condition is false", expect=["pending"])
    if isinstance(step.if_, str):
        try:
            go = bool(render_value(step.if_, rs.context(step, task)))
        except ExpressionError as e:
            return transition(rs, task, "failed", reason=f"if: {e}", expect=["pending"])
        if not go:
            return transition(rs, task, "skipped", reason="condition is false", expect=["pending"])
    return make_actionable(rs, step, task)


def make_actionable(rs: RunState, step: PlannedStep, task: dict[str, Any]) -> bool:
    """`waiting` for people (with its timers), `ready` for the runner or the engine; then the
    kind does what it does when it becomes actionable."""
    kind = kind_of(step.kind)
    state = "waiting" if step.human else "ready"
    values: dict[str, Any] = {
        "actionable_at": rs.now,
        **rs.titles_of(step, task),
        "owner": task["owner"] or rs.owner_of(step, task),
    }
    if step.due is not None:
        values["due_at"] = rs.now + rs.scaled(step.due)
    if state == "ready":
        values["next_attempt_at"] = rs.now
    else:
        values["timer_at"] = timers.next_timer(rs, step, {**task, **values, "reminders": 0, "escalated_at": None})
    if not transition(rs, task, state, expect=["pending"], reason=task.get("reason"), **values):
        return False
    row = {**task, **values, "state": state}
    if state == "waiting":
        rs.event(kind.assigned_event, task["id"], owner=values["owner"], title=values["title"])
    kind.on_actionable(rs, step, row)
    return True


def _expand_dynamic(rs: RunState, step: PlannedStep, run_steps: _RunSteps) -> bool:
    """A fan-out over another step's outputs gets its items once its needs are met."""
    verdict, why = _needs_met(rs, step, None, run_steps)
    if verdict == "wait":
        return False
    items: list[dict[str, Any]] = []
    if verdict == "ok":
        try:
            items = expand_items(rs, step, render_value(_as_list(step.for_each), rs.context(step)))
        except ExpressionError as e:
            failed = rs.new_task(step)
            create(rs, [{**failed, "state": "failed", "reason": f"for_each: {e}", "ended_at": rs.now}])
            rs.event("task.failed", failed["id"], reason=str(e))
    else:  # upstream skipped or failed: one skipped row says so, and its dependents see it
        skipped = rs.new_task(step)
        create(rs, [{**skipped, "state": "skipped", "reason": why, "ended_at": rs.now}])
    create(rs, items)
    rs.created = [r for r in rs.created if r["step_id"] != step.id]  # evaluated just below
    rs.tx.update_run_step(rs.run_id, step.id, expanded=True, closed=True)
    run_steps[step.id] = {**run_steps[step.id], "expanded": True, "closed": True}
    rs.changed.add((step.id, None))
    for task in items:
        _evaluate(rs, step, task, run_steps)
    return True


# --- the run as a whole ------------------------------------------------------------------------


def finish_if_done(rs: RunState) -> None:
    """Every task ended and every fan-out closed: the run completes, or fails if a task failed.
    Tasks of background kinds (check-ins) do not hold a run open: they end with it."""
    if rs.run["state"] != "running":
        return
    background = {s.id for s in rs.plan.steps if kind_of(s.kind).background}
    counts = rs.tx.counts_by_step(rs.run_id)  # the kept counts (store/counts.py), not a count of task rows

    def tally(steps: set[str] | None = None, states: frozenset[str] | None = None) -> int:
        return sum(
            n
            for step, by_state in counts.items()
            if steps is None or step in steps
            for state, n in by_state.items()
            if states is None or state in states
        )

    still = tally(states=OPEN)
    if still and (not background or still > tally(background, OPEN)):
        return
    if still and tally() == tally(background):
        return  # nothing but check-ins: they are the run's work
    if not all(r["closed"] for r in rs.tx.run_steps(rs.run_id).values()):
        return
    for task in rs.tx.tasks(rs.run_id, steps=sorted(background), states=sorted(OPEN)) if still else []:
        kind_of(task["kind"]).end_with_run(rs, task)  # check-ins go on only while there is other work
    failed = tally(states=frozenset({"failed"}))
    state = "failed" if failed else "completed"
    transition_run(rs, state)
    rs.audit(f"run.{state}", reason=f"{failed} task(s) failed" if failed else None, actor="engine")
    rs.event(f"run.{state}", missed=missed_objectives(rs))


def missed_objectives(rs: RunState) -> list[str]:
    """The objectives not reached by their deadline: a run that ends says which it missed."""
    met = rs.tx.objectives_met(rs.run_id)
    start = rs.run["started_at"]
    return [o.id for o in rs.plan.objectives if o.id not in met or met[o.id] > start + rs.scaled(o.within)]
