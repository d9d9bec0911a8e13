"""Work: the runner's transactions on one run — claim the automated tasks that are due (their
parameters rendered), record what a step returned, and fire the timers of human tasks
(`due` → `on_timeout`). Each is one transaction with its audit rows; a runner that no longer
holds the run's lease changes nothing."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from runbooks.expressions import ExpressionError, find_expressions, parse_expression, references, render_value

from . import machine, muster, timers
from .machine import RunState
from .steps import AUTOMATED, StepError, StepJob, mask
from .store import Store, runbook_home, utcnow


class LeaseLost(Exception):
    """Another runner owns the run now (or it ended): stop working on it."""


@dataclass
class Claimed:
    jobs: list[StepJob]
    next_wake: datetime | None
    running: bool  # False: the run ended


@contextlib.contextmanager
def _open(store: Store, run_id: str, owner: str) -> Iterator[RunState | None]:
    """The run in a transaction holding its lock; None if it ended; LeaseLost if not ours."""
    with store.transaction(serial=run_id) as tx:
        tx.lock_chain(run_id)
        run = tx.run_head(run_id)
        if run is None or run["state"] != "running":
            yield None
            return
        if run["lease_owner"] != owner:
            raise LeaseLost(run_id)
        yield RunState(tx, run, machine.plan_of(run, tx), utcnow(), f"runner:{owner}")


def claim(store: Store, run_id: str, owner: str, *, recover: bool = False) -> Claimed:
    """Take the due automated tasks (ready → running) and fire human timers. With `recover`
    (just after taking the lease), tasks left `running` by a dead runner are taken again: they
    run with the same Idempotency-Key."""
    with _open(store, run_id, owner) as rs:
        if rs is None:
            return Claimed([], None, False)
        jobs: list[StepJob] = []
        if recover:
            for task in rs.tx.tasks(run_id, states=["running"]):
                job = _job(rs, task)
                if job is not None:
                    rs.audit(
                        "task.resume", task["id"], "its runner stopped while it was running", attempt=task["attempt"]
                    )
                    jobs.append(job)
        for task in rs.tx.due_tasks(run_id, rs.now, sorted(AUTOMATED)):
            if task["state"] == "waiting":
                if task["due_at"] is not None and task["due_at"] <= rs.now and task["overdue_at"] is None:
                    _timeout(rs, task)
                if task["timer_at"] is not None and task["timer_at"] <= rs.now:
                    fresh = rs.tx.task(run_id, task["id"])
                    if fresh is not None and fresh["state"] == "waiting":
                        timers.fire(rs, fresh)
                continue
            step = rs.plan.step(task["step_id"])
            if step.kind == "wait" and not _wait_over(rs, step, task):
                continue
            job = _job(rs, task)
            if job is None:
                continue
            rs.tx.update_task(run_id, task["id"], expect=["ready"], state="running", attempt=task["attempt"] + 1)
            rs.audit("task.start", task["id"], attempt=task["attempt"] + 1)
            jobs.append(job)
        machine.advance(rs, rs.changed)
        machine.check_objectives(rs)
        machine.check_at_risk(rs)
        machine.finish_if_done(rs)
        return Claimed(jobs, rs.tx.next_wake(run_id, sorted(AUTOMATED)), rs.run["state"] == "running")


def record(
    store: Store, run_id: str, owner: str, results: list[tuple[StepJob, dict[str, Any] | None, StepError | None]]
) -> None:
    """Record what steps returned, several in one transaction (each with its audit row)."""
    with _open(store, run_id, owner) as rs:
        if rs is None:
            return
        for job, outputs, error in results:
            _record_one(rs, job, outputs, error)
        machine.advance(rs, rs.changed)
        machine.check_objectives(rs)
        machine.finish_if_done(rs)


def _record_one(rs: RunState, job: StepJob, outputs: dict[str, Any] | None, error: StepError | None) -> None:
    task = rs.tx.task(rs.run_id, job.task_id)
    if task is None or task["state"] != "running":
        return  # skipped or cancelled by a manager meanwhile
    step = rs.plan.step(task["step_id"])
    if error is None:
        machine.set_state(rs, task, "done", by=rs.actor, outputs=outputs or {}, expect=["running"])
        rs.audit("task.done", task["id"], attempt=task["attempt"])
    elif error.retryable and task["attempt"] <= step.retries:
        delay = min(60.0, 0.5 * 2 ** (task["attempt"] - 1)) * random.uniform(0.8, 1.2)
        when = rs.now + timedelta(seconds=delay / float(rs.run["time_scale"] or 1))
        rs.tx.update_task(
            rs.run_id, task["id"], expect=["running"], state="ready", next_attempt_at=when, reason=error.message
        )
        rs.audit("task.retry_scheduled", task["id"], error.message, attempt=task["attempt"], at=when.isoformat())
    else:
        tries = f" after {task['attempt']} attempts" if task["attempt"] > 1 else ""
        item = f" for {step.as_} {task['item_key']}" if task["item_key"] is not None else ""
        reason = f'step "{step.id}" ({Path(rs.plan.path).name}:{step.line}) failed{item}: {error.message}{tries}'
        machine.set_state(rs, task, "failed", by=rs.actor, reason=reason, expect=["running"])
        rs.audit("task.failed", task["id"], reason, attempt=task["attempt"])


def _wait_over(rs: RunState, step, task: dict[str, Any]) -> bool:
    """A wait step's timer lives in the store (`next_attempt_at`), so it survives restarts."""
    if step.params.get("for") is not None:
        from runbooks.models import parse_duration

        deadline = task["actionable_at"] + rs.scaled(parse_duration(step.params["for"]))
        if rs.now >= deadline:
            return True
        rs.tx.update_task(rs.run_id, task["id"], expect=["ready"], next_attempt_at=deadline)
        return False
    try:
        done = bool(render_value(step.params["until"], rs.context(step, task)))
    except ExpressionError as e:
        machine.set_state(rs, task, "failed", reason=f"until: {e}")
        return False
    if not done:
        rs.tx.update_task(rs.run_id, task["id"], expect=["ready"], next_attempt_at=rs.now + timedelta(seconds=1))
    return done


def _timeout(rs: RunState, task: dict[str, Any]) -> None:
    """A human task past its due time: flag it (once), or fail or skip it as the step says."""
    step = rs.plan._by_id.get(task["step_id"])
    action = step.on_timeout if step is not None else "flag"
    rs.tx.update_task(rs.run_id, task["id"], expect=["waiting"], overdue_at=rs.now)
    if task["kind"] == "muster" and muster.on_due(rs, {**task, "overdue_at": rs.now}):
        return  # due, with its quorum: the roll call closes
    rs.event("task.overdue", task["id"], owner=task["owner"], title=task["title"], on_timeout=action)
    rs.audit("task.overdue", task["id"], on_timeout=action)
    if action == "fail":
        machine.set_state(rs, {**task}, "failed", by=rs.actor, reason="not done by its due time")
    elif action == "skip":
        machine.set_state(rs, {**task}, "skipped", by=rs.actor, reason="not done by its due time")


def _job(rs: RunState, task: dict[str, Any]) -> StepJob | None:
    step = rs.plan.step(task["step_id"])
    context = rs.context(step, task)
    secrets: list[str] = []
    try:
        if step.kind == "http":
            context = {**context, "env": dict(os.environ)}
            secrets = _env_values(step.params["with"])
        params = {key: render_value(value, context) for key, value in step.params.items()}
    except ExpressionError as e:
        machine.set_state(
            rs,
            task,
            "failed",
            by=rs.actor,
            reason=f'step "{step.id}" ({Path(rs.plan.path).name}:{step.line}): {mask(str(e), secrets)}',
        )
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
    )


def _env_values(value: Any) -> list[str]:
    """The values of the environment variables an http request uses: masked in every message."""
    names: set[str] = set()

    def walk(v: Any) -> None:
        if isinstance(v, str):
            for found in find_expressions(v):
                for root, path in references(parse_expression(found.inner)):
                    if root == "env" and path:
                        names.add(str(path[0]))
        elif isinstance(v, dict):
            for item in v.values():
                walk(item)
        elif isinstance(v, list):
            for item in v:
                walk(item)

    walk(value)
    return [os.environ[n] for n in sorted(names) if os.environ.get(n)]
