"""Attempts in process: a work pool's scheduled flow runs → the deployed flows (`execute_run`,
`declare_lockdown`) run in threads of this process, as `runbook serve`'s Runner runs its
attempts. A takeover then costs no Python start (a Prefect process worker starts a new
interpreter per flow run: about 3 CPU-s of imports each, 30–70 s for 12 runs at once).

A flow run is claimed by proposing Pending: Prefect's orchestration accepts that from one
claimant only (a scheduled run), so two workers polling one pool never run the same attempt.
The attempts die with the process that runs them: the lease watcher of another worker submits
new ones once their leases expire. A worker that stops (SIGTERM) tells its attempts to stop
driving: they hand their leases back and end Crashed, and another worker takes the runs at once."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from . import signals
from .deploy import declare_lockdown, execute_run, stopping
from .starter import start_runbook
from .store import utcnow

log = logging.getLogger("runbook.attempts")

FLOWS = {execute_run.name: execute_run, declare_lockdown.name: declare_lockdown, start_runbook.name: start_runbook}


class AttemptWorker:
    """Polls `pool` every `every` seconds and runs up to `limit` of its flow runs at once."""

    def __init__(self, pool: str, name: str, *, limit: int | None = None, every: float = 0.5):
        self.pool, self.name, self.limit, self.every = pool, name, limit or 64, every
        self.running: dict[str, threading.Thread] = {}
        self.started = 0
        self._flow_names: dict[Any, str] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()

    def wake(self) -> None:
        """Poll now (an attempt was just submitted by this process's lease watcher)."""
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        from prefect.client.orchestration import get_client

        stopping.clear()  # one worker per process: a new one starts afresh
        with get_client(sync_client=True) as client:
            while not stop.is_set():
                try:
                    self.tick(client)
                except Exception as e:  # Prefect briefly unreachable: poll again
                    log.warning("worker %s: polling pool %s failed: %s: %s", self.name, self.pool, type(e).__name__, e)
                self._wake.wait(self.every)
                self._wake.clear()
        stopping.set()  # the attempts hand their leases back (woken, they see it within a second)
        signals.publish(signals.EVERY_RUN)
        try:
            for thread in list(self.running.values()):
                thread.join(30)
        finally:
            # The flag is the process's: once this worker's attempts are gone, an attempt run in
            # this process later (another worker, a test) must not see a stop meant for them.
            stopping.clear()

    def tick(self, client: Any) -> int:
        with self._lock:
            for key in [k for k, t in self.running.items() if not t.is_alive()]:
                self.running.pop(key)
            free = self.limit - len(self.running)
        if free <= 0:
            return 0
        due = client.get_scheduled_flow_runs_for_work_pool(self.pool, scheduled_before=utcnow() + timedelta(seconds=1))
        n = 0
        for response in due[:free]:
            flow_run = response.flow_run
            entry = FLOWS.get(self._flow_name(client, flow_run.flow_id))
            if entry is None or str(flow_run.id) in self.running:
                continue
            # Claimed in its own thread: a dozen claims (an API call each) must not queue.
            thread = threading.Thread(
                target=self._execute, args=(entry, flow_run.id), name=f"attempt-{flow_run.id}", daemon=True
            )
            with self._lock:
                self.running[str(flow_run.id)] = thread
            thread.start()
            n += 1
        self.started += n  # started, not all claimed: another worker may win a claim
        return n

    def _flow_name(self, client: Any, flow_id: Any) -> str:
        if flow_id not in self._flow_names:
            self._flow_names[flow_id] = client.read_flow(flow_id).name
        return self._flow_names[flow_id]

    def _execute(self, entry: Any, flow_run_id: Any) -> None:
        from prefect.client.orchestration import get_client
        from prefect.flow_engine import run_flow
        from prefect.states import Pending

        try:
            with get_client(sync_client=True) as client:
                claimed: Any = client.set_flow_run_state(flow_run_id, Pending(message=f"claimed by worker {self.name}"))
                if claimed.status.value != "ACCEPT":  # another worker was first
                    return
                flow_run = client.read_flow_run(flow_run_id)
            state = run_flow(entry, flow_run=flow_run, parameters=flow_run.parameters, return_type="state")
            log.info("worker %s: flow run %s ended %s", self.name, flow_run_id, getattr(state, "type", state))
        except BaseException:  # the flow engine reports the state itself; this keeps the thread's story
            log.exception("worker %s: flow run %s ended with an error", self.name, flow_run_id)
