"""Runner: running runs in the store → owned through leases → driven by a Prefect flow run each.

A runner renews its leases every second (TTL `RUNBOOK_LEASE_TTL`, default 10 s) and takes
runs whose lease is free or expired, so the runs of a runner that died are taken over within
seconds. Each owned run gets a thread that runs one Prefect flow run (an attempt): it claims
the due automated tasks, executes them as task runs, records the results, and sleeps until
woken (a check-off in this process) or until its next timer, at most a second (other
processes' changes are seen by polling).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from . import findings, signals, work
from .prefect_control import CancelWatch, final_state
from .revoker import Revoker
from .store import Store, utcnow

log = logging.getLogger("runbook.runner")


def lease_ttl() -> float:
    return float(os.environ.get("RUNBOOK_LEASE_TTL", "10"))


class Runner:
    def __init__(self, store: Store, *, name: str | None = None, max_runs: int = 64):
        self.store = store
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.max_runs = max_runs
        self.ttl = lease_ttl()
        self.owned: set[str] = set()
        self.drivers: dict[str, threading.Thread] = {}
        self.stopping = threading.Event()
        self._wakes: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._loop_wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.revoker = Revoker(store)  # the grant ledger's expiries, reviews and revocations

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Runner:
        signals.subscribe(self.wake)
        self.store.listen_for_wakes()  # PostgreSQL: check-offs taken by other processes wake us too
        self._thread = threading.Thread(target=self._loop, name=f"runner-{self.name}", daemon=True)
        self._thread.start()
        self.revoker.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        """Stop driving, wait for in-flight steps to be recorded, and hand the leases back."""
        self.stopping.set()
        self._loop_wake.set()
        for event in list(self._wakes.values()):
            event.set()
        signals.unsubscribe(self.wake)
        self.revoker.stop(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
        for thread in list(self.drivers.values()):
            thread.join(timeout)

    def wake(self, run_id: str) -> None:
        if run_id == signals.EVERY_RUN:
            with self._lock:
                events = list(self._wakes.values())
            for each in events:
                each.set()
            self._loop_wake.set()
            return
        with self._lock:
            event = self._wakes.get(run_id)
        if event is not None:
            event.set()
        else:
            self._loop_wake.set()  # perhaps a new run: look for it now

    # --- leases ------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self._tick()
            except Exception:  # the store may be briefly unreachable: keep trying
                log.exception("runner %s: lease round failed", self.name)
            self._loop_wake.wait(1.0)
            self._loop_wake.clear()

    def _tick(self) -> None:
        now = utcnow()
        until = now + timedelta(seconds=self.ttl)
        with self.store.transaction() as tx:
            still = tx.renew_leases(self.name, until)
        with self._lock:
            for run_id in self.owned - still:
                self.owned.discard(run_id)
                self._wakes.get(run_id, threading.Event()).set()
        with self.store.read() as r:
            candidates = r.leasable_runs(self.name, now, self.max_runs * 2)
            abandoned = r.abandoned_ended_runs(now)
        for row in abandoned:  # ended by people while its runner was dead: finish the mirror
            with self.store.transaction(serial=row["id"]) as tx:
                cleared = tx.clear_expired_lease(row["id"], row["lease_owner"], now)
            if cleared:
                _crash_earlier_attempts(row["id"], None, "its runner stopped; the run ended without it")
        findings.remind_due(self.store, now)  # open findings past due: their owners told, once a day
        for run_id in candidates:
            if self.stopping.is_set() or len(self.drivers) >= self.max_runs:
                break
            if run_id in self.drivers and self.drivers[run_id].is_alive():
                continue
            with self.store.transaction(serial=run_id) as tx:
                if not tx.acquire_lease(run_id, self.name, until, now):
                    continue
                run = tx.run_head(run_id)
            with self._lock:
                self.owned.add(run_id)
                self._wakes[run_id] = threading.Event()
            thread = threading.Thread(target=self._drive_thread, args=(run, run_id), name=f"run-{run_id}", daemon=True)
            self.drivers[run_id] = thread
            thread.start()

    # --- driving one run ---------------------------------------------------------------------

    def _drive_thread(self, run: dict[str, Any], run_id: str) -> None:
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        from .compile import run_flow

        try:
            # Our lease decides ownership; Prefect's heartbeat would add ~1 s to every flow exit.
            with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
                run_flow(run_id, f"{run['runbook_id']}/{run['site_id']}", self._drive)
        except Exception as e:
            log.warning("run %s: flow ended with %s: %s", run_id, type(e).__name__, e)
        finally:
            with self._lock:
                self.owned.discard(run_id)
                self._wakes.pop(run_id, None)
            try:
                with self.store.transaction(serial=run_id) as tx:
                    tx.release_lease(run_id, self.name)
            except Exception:
                log.exception("run %s: could not release its lease", run_id)
            self.drivers.pop(run_id, None)
            self._loop_wake.set()

    def _drive(self, run_id: str) -> Any:
        outcome = drive_run(
            self.store,
            run_id,
            self.name,
            self._wakes[run_id],
            lambda: not self.stopping.is_set() and run_id in self.owned,
        )
        return final_state(self.store, run_id, outcome)


class RunLease:
    """One run's lease held outside a Runner (a deployed `execute_run` flow run owns exactly one
    run): taken, waiting while a live owner holds it; renewed every second in a thread; handed
    back at the end. `held` clears, and `wake` fires, the moment the lease is lost."""

    def __init__(self, store: Store, run_id: str, owner: str, ttl: float | None = None):
        self.store, self.run_id, self.owner = store, run_id, owner
        self.ttl = ttl or lease_ttl()
        self.held = threading.Event()
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def take(self, patience: float) -> str | None:
        """None once the lease is ours; else why not: the run ended, or a live owner kept it
        for `patience` seconds (a later attempt is submitted if that owner dies)."""
        deadline = time.monotonic() + patience
        while True:
            now = utcnow()
            with self.store.transaction(serial=self.run_id) as tx:
                if tx.acquire_lease(self.run_id, self.owner, now + timedelta(seconds=self.ttl), now, reserved=True):
                    break
                run = tx.run_head(self.run_id)
            if run is None:
                return f"no run {self.run_id}"
            if run["state"] != "running":
                return f"the run is {run['state']}"
            if time.monotonic() >= deadline:
                return f"runner {run['lease_owner']} owns it"
            time.sleep(0.5)
        self.held.set()
        signals.subscribe(self._signal)
        self.store.listen_for_wakes()
        self._thread = threading.Thread(target=self._renew, name=f"lease-{self.run_id}", daemon=True)
        self._thread.start()
        return None

    def release(self) -> None:
        self._stop.set()
        signals.unsubscribe(self._signal)
        if self._thread is not None:
            self._thread.join(10)
        self.held.clear()
        with self.store.transaction(serial=self.run_id) as tx:  # only if still ours
            tx.release_lease(self.run_id, self.owner)

    def _signal(self, run_id: str) -> None:
        if run_id in (self.run_id, signals.EVERY_RUN):
            self.wake.set()

    def _renew(self) -> None:
        while not self._stop.wait(1.0):
            try:
                with self.store.transaction() as tx:
                    still = tx.renew_leases(self.owner, utcnow() + timedelta(seconds=self.ttl))
            except Exception:  # the store may be briefly unreachable: the TTL gives us time
                log.warning("run %s: lease renewal failed", self.run_id, exc_info=True)
                continue
            if self.run_id not in still:  # taken over, or the run ended
                self.held.clear()
                self.wake.set()
                return


def drive_run(store: Store, run_id: str, owner: str, wake: threading.Event, holding: Callable[[], bool]) -> str:
    """Drive one run whose lease `owner` holds, inside the current Prefect flow run (the
    attempt): claim due work, execute it, record it (the mirror shows every task as a task
    run), sleep until woken or the next timer; until the run ends or `holding()` turns false.
    Used by the Runner's driver threads and by the deployed `execute_run` flow
    (flows/deploy.py), so both paths are one code."""
    from prefect.runtime import flow_run

    from .prefect_mirror import Mirror

    current = str(flow_run.id) if flow_run.id else None
    with store.transaction(serial=run_id) as tx:
        tx.update_run(run_id, prefect_flow_run=current)
    _crash_earlier_attempts(run_id, current, f"taken over by runner {owner}")
    mirror = Mirror(store, run_id, current).start()
    outcome = "stopped"
    try:
        outcome = _drive(store, run_id, owner, wake, holding, current, mirror)
        return outcome
    finally:
        # A last round: the flow run ends with its task runs in their final states. Events are
        # sent in it only if the run ended here; otherwise the next owner's mirror sends them
        # from the cursor in the store (never twice from two attempts).
        mirror.stop(events=outcome in ("run ended", "cancelled from Prefect"))


def _drive(
    store: Store,
    run_id: str,
    owner: str,
    wake: threading.Event,
    holding: Callable[[], bool],
    current: str | None,
    mirror: Any,
) -> str:
    from .compile import execute_jobs

    cancels = CancelWatch(store, run_id, current)
    recover = True
    while holding():
        wake.clear()
        if cancels.check():
            return "cancelled from Prefect"
        try:
            claimed = work.claim(store, run_id, owner, recover=recover)
        except work.LeaseLost:
            return "lease lost"
        recover = False
        if not claimed.running:
            return "run ended"
        if claimed.jobs:
            mirror.nudge()
            execute_jobs(claimed.jobs, lambda results: _record(store, run_id, owner, results, mirror), log=mirror.log)
            continue
        delay = 1.0
        if claimed.next_wake is not None:
            delay = max(0.0, min(delay, (claimed.next_wake - utcnow()).total_seconds()))
        wake.wait(delay)
    return "stopped"


def _record(store: Store, run_id: str, owner: str, results, mirror: Any) -> None:
    try:
        work.record(store, run_id, owner, results)
    except work.LeaseLost:
        pass  # the new owner runs it again with the same Idempotency-Key
    mirror.nudge()


def _crash_earlier_attempts(run_id: str, current: str | None, message: str) -> None:
    """Mark Crashed every earlier attempt of the run that Prefect still shows as not finished:
    their runners are gone (we hold the lease). Found by the run's tag, so an attempt whose
    runner died before it could note its flow run in the store is found too."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    try:
        with get_client(sync_client=True) as client:
            stale = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    tags=FlowRunFilterTags(all_=[f"run:{run_id}"]),
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING, StateType.SCHEDULED])
                    ),
                )
            )
            for flow_run in stale:
                if str(flow_run.id) != current:
                    client.set_flow_run_state(flow_run.id, Crashed(message=message), force=True)
    except Exception:
        log.warning("could not mark earlier attempts of run %s crashed", run_id, exc_info=True)
