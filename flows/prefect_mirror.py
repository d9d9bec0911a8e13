"""Prefect mirror: a run's committed changes → the attempt's flow run in Prefect. Every task —
automated and human — is a task run named `<step>[<item>]` with its `needs` as task inputs (the
graph Prefect draws), its state following the store's (Pending while its needs are open, Running
while it runs or waits for people, Completed, Failed or Cancelled with who ended it and their
note); progress artifacts per phase and the objectives (flows/prefect_progress.py); the attempt
logs of automated steps (capped per run); every event as `runbook.<event>`
(flows/prefect_events.py).

Task runs are written as Prefect's task engine writes them: client-side `TaskRun`s whose state
changes go out as `prefect.task-run.*` events, recorded by the server in its task-run recorder
(flows/prefect_taskruns.py) — no REST call per task run or state, so the server's cost per task
run is a hand-written flow's.

It runs in its own thread beside the attempt's driver and reads the store only through Reader
queries: a check-off never waits for Prefect. Each round reads the run's events after its cursor
(the events table's `seq`); when something happened (or the driver said it claimed work), the
run's task states are read and what changed is sent. The event cursor is kept in the store after
the events are sent; an event sent again after a crash between the two carries the same id
(`runbook.<run>.<seq>` → uuid5), and Prefect drops it as a duplicate (its publisher, its event
store and its triggers all key on the id), so an automation reacts once. A new attempt's flow run
gets every task run again, the ended ones in the state they ended in. Task run ids derive from
the flow run and the task. Above RUNBOOK_PREFECT_MIRROR_MAX_TASKS (default 5,000) a run keeps
only per-step progress artifacts. The last round waits for the events worker to have sent its
events before the attempt's flow run ends."""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any

from .prefect_events import EventBudget, emit_events
from .prefect_progress import ProgressArtifacts, counts_by, phase_of
from .prefect_taskruns import TaskRuns, drain_events, mirrored_state, task_run_id
from .runstate import plan_of
from .states import task_id_of
from .store import Store, utcnow
from .views import run_json

log = logging.getLogger("runbook.prefect")


def mirror_cap() -> int:
    return int(os.environ.get("RUNBOOK_PREFECT_MIRROR_MAX_TASKS", "5000"))


def log_cap() -> int:
    return int(os.environ.get("RUNBOOK_PREFECT_LOG_CAP", "1000"))


def upstream_of(plan: Any, rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Task id → the task ids its needs point to: the same item of a per-item need, every item
    of an all-items need — those of a streaming step included as they appear, except the items
    of late roll-call answers, which an all-items need does not wait for (flows/machine.py)."""
    ids = {r["id"] for r in rows}
    by_step: dict[str, list[str]] = {}
    for row in rows:
        if not row.get("late"):
            by_step.setdefault(row["step_id"], []).append(row["id"])
    out: dict[str, list[str]] = {}
    for row in rows:
        step = plan.find(row["step_id"])
        upstream: list[str] = []
        if step is not None:
            for need in step.item_needs:
                up = task_id_of(need, row["item_key"])
                if up in ids:
                    upstream.append(up)
            for need in step.all_needs:
                upstream.extend(by_step.get(need, []))
        out[row["id"]] = upstream
    return out


class Mirror:
    """The mirror of one run into one flow run (its attempt's), in a thread."""

    def __init__(self, store: Store, run_id: str, flow_run_id: str | None, *, every: float = 0.5):
        self.store, self.run_id, self.flow_run_id, self.every = store, run_id, flow_run_id, every
        self.cap = mirror_cap()
        self.shown: dict[str, tuple[str, str | None]] = {}  # task id → the (type, name) its task run shows
        self.task_runs = TaskRuns(flow_run_id) if flow_run_id else None
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
                    if not drain_events():
                        log.warning("run %s: the last task-run events were not all sent within 15 s", self.run_id)
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
                self._mirror_tasks(plan, rows)
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

    def _mirror_tasks(self, plan: Any, rows: list[dict[str, Any]]) -> None:
        """Send what changed as the task engine would: a state-change event per task whose
        state changed, or whose needs gained items (a streaming step's items appear as people
        answer: the event carries the task inputs, which the recorder rewrites)."""
        assert self.task_runs is not None
        upstream = upstream_of(plan, rows)
        for row in rows:
            tid = row["id"]
            state = mirrored_state(row)
            shows = (state.type.value, state.name)
            needs = upstream[tid]
            if self.shown.get(tid) == shows and self.task_runs.inputs.get(tid) == frozenset(needs):
                continue
            if tid not in self.task_runs.runs:
                self.sent["task_runs"] += 1
            else:
                self.sent["states"] += 1
            self.task_runs.send(row, state, needs)
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
