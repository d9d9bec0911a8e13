"""Prefect mirror: a run's committed changes → the attempt's flow run in Prefect. Every task —
automated and human — is a task run named `<step>[<item>]` with its `needs` as task inputs (the
graph Prefect draws), its state following the store's (Pending while its needs are open, Running
while it runs or waits for people, Completed, Failed or Cancelled with who ended it and their
note); progress artifacts per phase and the objectives (flows/prefect_progress.py); the attempt
logs of automated steps (capped per run); every event as `runbook.<event>`
(flows/prefect_events.py).

It runs in its own thread beside the attempt's driver and reads the store only through Reader
queries: a check-off never waits for Prefect. Each round reads the run's events after its cursor
(the events table's `seq`); when something happened (or the driver said it claimed work), the
run's task states are read and what changed is sent. The event cursor is kept in the store, so a
restart or a takeover neither repeats nor skips an event; a new attempt's flow run gets every
task run again, the ended ones in the state they ended in. Task run ids derive from the flow
run and the task, so creating one twice returns the same task run. Above
RUNBOOK_PREFECT_MIRROR_MAX_TASKS (default 5,000) a run keeps only per-step progress artifacts."""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from prefect import task

from .prefect_events import EventBudget, emit_events
from .prefect_progress import ProgressArtifacts, counts_by, phase_of
from .runstate import plan_of
from .states import task_id_of
from .store import Store, utcnow
from .views import run_json

log = logging.getLogger("runbook.prefect")

NAMESPACE = uuid.UUID("6f1d3c1e-21a4-4c55-9a55-9c7d0b7a2e21")


@task(name="step", retries=0, persist_result=False)
def _step() -> None:  # never run: the task object names the mirror's task runs (task key, version)
    """A runbook task, mirrored."""


def mirror_cap() -> int:
    return int(os.environ.get("RUNBOOK_PREFECT_MIRROR_MAX_TASKS", "5000"))


def log_cap() -> int:
    return int(os.environ.get("RUNBOOK_PREFECT_LOG_CAP", "1000"))


def task_run_id(flow_run_id: str, task_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{flow_run_id}/{task_id}")


def task_run_name(step_id: str, item_key: str | None) -> str:
    return step_id if item_key is None else f"{step_id}[{item_key}]"


def mirrored_state(row: Mapping[str, Any]) -> Any:
    """A task row → the Prefect state its task run shows."""
    from prefect.states import Cancelled, Completed, Failed, Pending, Running

    state = row["state"]
    by = f" by {row['ended_by']}" if row.get("ended_by") else ""
    note = f": {row['note']}" if row.get("note") else (f": {row['reason']}" if row.get("reason") else "")
    if state == "pending":
        return Pending(message="waiting for its needs")
    if state == "ready":  # shown as Pending: one state change less per automated task
        return Pending(message="queued for the runner")
    if state == "running":
        return Running(message="running")
    if state == "waiting":
        return Running(name="Waiting", message=f"waiting for {row.get('owner') or 'people'}")
    if state == "done":
        return Completed(message=f"done{by}{note}")
    if state == "skipped":
        return Completed(name="Skipped", message=f"skipped{by}{note}")
    if state == "rejected":
        return Failed(name="Rejected", message=f"rejected{by}{note}")
    if state == "failed":
        return Failed(message=f"failed{note}")
    return Cancelled(message=f"cancelled{by}{note}")


class Mirror:
    """The mirror of one run into one flow run (its attempt's), in a thread."""

    def __init__(self, store: Store, run_id: str, flow_run_id: str | None, *, every: float = 0.5):
        self.store, self.run_id, self.flow_run_id, self.every = store, run_id, flow_run_id, every
        self.cap = mirror_cap()
        self.shown: dict[str, tuple[str, str | None]] = {}  # task id → the (type, name) its task run shows
        self.created: set[str] = set()
        self.artifacts = ProgressArtifacts(run_id, flow_run_id)
        self.budget = EventBudget()
        self.logs: deque[dict[str, Any]] = deque()
        self.logged = 0
        self.rounds = 0
        self.sent = {"task_runs": 0, "states": 0, "events": 0, "logs": 0}
        self._dirty = True
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cursor: int | None = None
        self._send_events = True

    # --- driving ----------------------------------------------------------------------------

    def start(self) -> Mirror:
        if self.flow_run_id is None:
            return self
        self._thread = threading.Thread(target=self._loop, name=f"mirror-{self.run_id}", daemon=True)
        self._thread.start()
        return self

    def nudge(self) -> None:
        """The driver claimed or recorded work: tasks changed state without an event."""
        self._dirty = True
        self._wake.set()

    def stop(self, timeout: float = 30, *, events: bool = True) -> None:
        """Stop after a last round: the flow run ends with every task run in its final state;
        `events=False`: the last round sends no events (another attempt owns the run now)."""
        self._send_events = events
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            while True:
                stopping = self._stop.is_set()
                try:
                    self.round(client, force=stopping)
                except Exception:  # Prefect or the store briefly unreachable: the next round catches up
                    log.warning("run %s: mirror round failed", self.run_id, exc_info=True)
                if stopping:
                    return
                self._wake.wait(self.every)
                self._wake.clear()

    # --- one round --------------------------------------------------------------------------

    def round(self, client: Any, *, force: bool = False) -> None:
        with self.store.read() as r:
            head = r.run_head(self.run_id)
            if head is None:
                return
            if self._cursor is None:
                self._cursor = int((r.mirror_cursor(self.run_id) or {}).get("event_seq") or 0)
            events = r.events(self.run_id, after=self._cursor, limit=500)
            changed = bool(events) or self._dirty or force
            # Above the cap only counts are needed: one GROUP BY instead of every task's row.
            big = changed and r.task_count(self.run_id) > self.cap
            by_step = r.counts_by_step(self.run_id) if big else None
            rows = r.mirror_tasks(self.run_id) if changed and not big else []
            plan = plan_of(head, r) if changed else None
            run = run_json(r, head, plan, by_step) if changed and plan is not None and plan.objectives else None
        self.rounds += 1
        self._dirty = False
        if plan is not None:
            if by_step is not None:
                self.artifacts.write_progress(client, by_step)
            else:
                self._mirror_tasks(client, plan, rows)
                self.artifacts.write_progress(client, counts_by(rows, phase_of(plan.steps)), prefix="phase")
            if run is not None:
                self.artifacts.write_objectives(client, run)
        self._flush_logs(client)
        if events and (self._send_events or not force):
            self.sent["events"] += emit_events(events, bool(head["drill"]), self.budget, self.run_id, head["site_id"])
            self._cursor = int(events[-1]["seq"])
            with self.store.transaction() as tx:
                tx.put_mirror_cursor(self.run_id, self.flow_run_id, self._cursor, utcnow())
            if len(events) == 500:
                self._wake.set()  # more to read

    def _mirror_tasks(self, client: Any, plan: Any, rows: list[dict[str, Any]]) -> None:
        from prefect.client.schemas.objects import TaskRunResult

        assert self.flow_run_id is not None
        flow_run = uuid.UUID(self.flow_run_id)
        by_step: dict[str, list[str]] = {}
        ids = {r["id"] for r in rows}
        for row in rows:
            by_step.setdefault(row["step_id"], []).append(row["id"])
        for row in rows:
            tid = row["id"]
            state = mirrored_state(row)
            shows = (state.type.value, state.name)
            if self.shown.get(tid) == shows:
                continue
            if tid not in self.created:
                step = plan.find(row["step_id"])
                upstream: list[str] = []
                if step is not None:
                    for need in step.item_needs:
                        up = task_id_of(need, row["item_key"])
                        if up in ids:
                            upstream.append(up)
                    for need in step.all_needs:
                        upstream.extend(by_step.get(need, []))
                inputs = {"needs": [TaskRunResult(id=task_run_id(self.flow_run_id, u)) for u in upstream]}
                created = client.create_task_run(
                    task=_step,
                    flow_run_id=flow_run,
                    dynamic_key=tid,
                    id=task_run_id(self.flow_run_id, tid),
                    name=task_run_name(row["step_id"], row["item_key"]),
                    state=state,
                    task_inputs=inputs,
                )
                self.created.add(tid)
                self.sent["task_runs"] += 1
                shows = created.state
                if shows is None or (shows.type, shows.name) != (
                    state.type,
                    state.name,
                ):  # it existed (a retried attempt)
                    client.set_task_run_state(created.id, state, force=True)
                    self.sent["states"] += 1
            else:
                client.set_task_run_state(task_run_id(self.flow_run_id, tid), state, force=True)
                self.sent["states"] += 1
            self.shown[tid] = shows

    # --- logs -------------------------------------------------------------------------------

    def log(self, task_id: str, level: int, message: str) -> None:
        """An automated attempt's log line (already masked) for the task's run; capped per run."""
        if self.flow_run_id is None:
            return
        if self.logged >= log_cap():
            return
        self.logged += 1
        if self.logged == log_cap():
            message += f" (log cap of {log_cap()} lines for this run reached: later attempts are in the store only)"
        self.logs.append({"task_id": task_id, "level": level, "message": message, "at": datetime.now(UTC)})
        self._wake.set()

    def _flush_logs(self, client: Any) -> None:
        from prefect.client.schemas.actions import LogCreate

        if not self.logs or self.flow_run_id is None:
            return
        batch = []
        while self.logs:
            item = self.logs.popleft()
            batch.append(
                LogCreate(
                    name="runbook.step",
                    level=item["level"],
                    message=item["message"],
                    timestamp=item["at"],
                    flow_run_id=uuid.UUID(self.flow_run_id),
                    task_run_id=task_run_id(self.flow_run_id, item["task_id"]),
                )
            )
        client.create_logs(batch)
        self.sent["logs"] += len(batch)
