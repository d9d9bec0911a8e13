"""Work: the runner's transactions on one run — claim the automated tasks that are due (their
parameters rendered), record what a step returned, and fire the timers of human tasks
(`due` → `on_timeout`). Each is one change of the run (flows/session.change_run) with its
audit rows; a runner that no longer holds the run's lease changes nothing."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from runbooks.expressions import ExpressionError, render_value

from . import timers
from .kinds import RUNNER_KINDS, StepKind, kind_of
from .runstate import RunState
from .session import LeaseLost, change_run
from .states import transition, transition_many
from .steps import StepError, StepJob, mask
from .store import Store, runbook_home

# Retry jitter from a generator of its own: the global one is the process's (and its tests').
_JITTER = random.Random()

__all__ = ["Claimed", "LeaseLost", "claim", "record"]
RUNNER = sorted(RUNNER_KINDS)


@dataclass
class Claimed:
    jobs: list[StepJob]
    next_wake: datetime | None
    running: bool  # False: the run ended


def claim(store: Store, run_id: str, owner: str, *, recover: bool = False) -> Claimed:
    """Take the due automated tasks (ready → running) and fire human timers. With `recover`
    (just after taking the lease), tasks left `running` by a dead runner are taken again: they
    run with the same Idempotency-Key."""

    def change(rs: RunState) -> Callable[[RunState], Claimed]:
        jobs: list[StepJob] = []
        if recover:
            for task in rs.tx.tasks(run_id, states=["running"]):
                job = _job(rs, task)
                if job is not None:
                    rs.audit(
                        "task.resume", task["id"], "its runner stopped while it was running", attempt=task["attempt"]
                    )
                    jobs.append(job)
        starts: list[tuple[dict[str, Any], StepJob]] = []
        for task in rs.tx.due_tasks(run_id, rs.now, RUNNER):
            if task["state"] == "waiting":
                _human_timers(rs, task)
                continue
            step = rs.plan.step(task["step_id"])
            if not kind_of(step.kind).ready_to_run(rs, step, task):
                continue
            job = _job(rs, task)
            if job is None:
                continue
            rs.audit("task.start", task["id"], attempt=task["attempt"] + 1)  # sealed in the order of the tasks
            starts.append((task, job))
        # Started together: one statement a page; a task changed meanwhile is not run.
        started = transition_many(
            rs,
            [(task, {"attempt": task["attempt"] + 1}) for task, _ in starts],
            "running",
            expect=["ready"],
            event=False,
        )
        ids = {task["id"] for task in started}
        jobs.extend(job for task, job in starts if task["id"] in ids)
        return lambda rs: Claimed(jobs, rs.tx.next_wake(run_id, RUNNER), rs.run["state"] == "running")

    result: Claimed = change_run(
        store, run_id, f"runner:{owner}", change, owner=owner, timed=True, if_ended=Claimed([], None, False)
    )
    return result


def record(
    store: Store, run_id: str, owner: str, results: list[tuple[StepJob, dict[str, Any] | None, StepError | None]]
) -> None:
    """Record what steps returned, several in one transaction (each with its audit row). The
    successes of kinds without result hooks are written together (one statement a page); any
    other result writes those before it first, so the events keep the results' order."""

    def change(rs: RunState) -> None:
        rs.tx.read_tasks(run_id, [job.task_id for job, _, _ in results])  # a statement a page
        done: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        for job, outputs, error in results:
            task = rs.tx.task(rs.run_id, job.task_id)
            if task is None or task["state"] != "running" or task["id"] in done:
                continue  # skipped or cancelled by a manager meanwhile
            if error is None and _hookless(task["kind"]):
                done[task["id"]] = (task, {"outputs": outputs or {}})
                continue
            _record_done(rs, list(done.values()))
            done.clear()
            _record_one(rs, task, outputs, error)
        _record_done(rs, list(done.values()))

    change_run(store, run_id, f"runner:{owner}", change, owner=owner, if_ended=None)


def _hookless(kind: str) -> bool:
    """A kind whose results need none of its own hooks (`on_result`, `on_done` are StepKind's)."""
    cls = type(kind_of(kind))
    return cls.on_result is StepKind.on_result and cls.on_done is StepKind.on_done


def _record_done(rs: RunState, done: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    for task in transition_many(rs, done, "done", by=rs.actor, expect=["running"]):
        rs.audit("task.done", task["id"], attempt=task["attempt"])


def _record_one(rs: RunState, task: dict[str, Any], outputs: dict[str, Any] | None, error: StepError | None) -> None:
    step = rs.plan.step(task["step_id"])
    if error is None:
        outputs = kind_of(step.kind).on_result(rs, step, task, outputs or {})
        transition(rs, task, "done", by=rs.actor, outputs=outputs, expect=["running"])
        rs.audit("task.done", task["id"], attempt=task["attempt"])
        kind_of(step.kind).on_done(rs, step, task, outputs or {})
    elif error.retryable and task["attempt"] <= step.retries:
        delay = min(60.0, 0.5 * 2 ** (task["attempt"] - 1)) * _JITTER.uniform(0.8, 1.2)
        when = rs.now + timedelta(seconds=delay / float(rs.run["time_scale"] or 1))
        transition(rs, task, "ready", reason=error.message, expect=["running"], next_attempt_at=when)
        rs.audit("task.retry_scheduled", task["id"], error.message, attempt=task["attempt"], at=when.isoformat())
    else:
        tries = f" after {task['attempt']} attempts" if task["attempt"] > 1 else ""
        item = f" for {step.as_} {task['item_key']}" if task["item_key"] is not None else ""
        reason = f'step "{step.id}" ({Path(rs.plan.path).name}:{step.line}) failed{item}: {error.message}{tries}'
        transition(rs, task, "failed", by=rs.actor, reason=reason, expect=["running"])
        rs.audit("task.failed", task["id"], reason, attempt=task["attempt"])


def _human_timers(rs: RunState, task: dict[str, Any]) -> None:
    if task["due_at"] is not None and task["due_at"] <= rs.now and task["overdue_at"] is None:
        _timeout(rs, task)
    if task["timer_at"] is not None and task["timer_at"] <= rs.now:
        fresh = rs.tx.task(rs.run_id, task["id"])
        if fresh is not None and fresh["state"] == "waiting":
            timers.fire(rs, fresh)


def _timeout(rs: RunState, task: dict[str, Any]) -> None:
    """A human task past its due time: flag it (once), or fail or skip it as the step says."""
    step = rs.plan.find(task["step_id"])
    action = step.on_timeout if step is not None else "flag"
    rs.tx.update_task(rs.run_id, task["id"], expect=["waiting"], overdue_at=rs.now)
    if kind_of(task["kind"]).on_due(rs, {**task, "overdue_at": rs.now}):
        return  # the kind handled it (a roll call due with its quorum closes)
    rs.event("task.overdue", task["id"], owner=task["owner"], title=task["title"], on_timeout=action)
    rs.audit("task.overdue", task["id"], on_timeout=action)
    if action == "fail":
        transition(rs, task, "failed", by=rs.actor, reason="not done by its due time", expect=["waiting"])
    elif action == "skip":
        transition(rs, task, "skipped", by=rs.actor, reason="not done by its due time", expect=["waiting"])


def _job(rs: RunState, task: dict[str, Any]) -> StepJob | None:
    step = rs.plan.step(task["step_id"])
    secrets: list[str] = []
    kind = kind_of(step.kind)
    try:
        context, secrets = kind.job_context(step, rs.context(step, task))
        params = {key: render_value(value, context) for key, value in kind.job_params(step.params).items()}
    except ExpressionError as e:
        where = f'step "{step.id}" ({Path(rs.plan.path).name}:{step.line})'
        transition(rs, task, "failed", by=rs.actor, reason=f"{where}: {mask(str(e), secrets)}")
        return None
    return StepJob(
        run_id=rs.run_id,
        task_id=task["id"],
        step_id=step.id,
        kind=step.kind,
        item_key=task["item_key"],
        params=params,
        idempotency_key=f"{rs.run_id}:{task['id']}:{task['retry_group']}",
        drill=bool(rs.run["drill"]),
        send_in_drill=step.drill == "send",
        site={"id": rs.plan.site.id, "lang": rs.plan.site.lang, "channels": rs.plan.site.channels},
        home=runbook_home(),
        secrets=tuple(secrets),
        extra=kind.job_extra(rs, step, task),
    )
