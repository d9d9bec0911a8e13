"""Forecaster: the running runs whose stored forecast is behind (the run changed since it was
simulated, or it is older than FRESH_S: time passing moves a forecast too) → the run read from
the store (flows/forecast.py `run_model`) → simulated in this one background thread → the
`forecasts` table, where every process's readers read it.

Owned by the serving process (console/api.py's app lifespan: `runbook serve`, with or without
its runner, and every replica), and by `runbook run`. Bursts coalesce:
- at most one simulation per run in flight across every process sharing the store (a claim
  in its row, `busy_by` until `busy_until`), and one at a time in this process;
- the run is read when its simulation starts, so the latest change wins; a run that changed
  is simulated once it has been QUIET seconds without a change, or once its forecast is MAX_WAIT
  seconds old while changes keep coming, and never twice within GAP seconds;
- after a simulation of d seconds the thread rests REST × d, so forecasts take at most about
  a quarter of one core whatever the load (check-offs and roll-call answers go first);
- big runs get fewer trials (`forecast.trials_for`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from . import forecast, signals
from .runstate import plan_of
from .store import Store, utcnow

log = logging.getLogger("runbook.forecaster")

FRESH_S = 30.0  # a running run's forecast is simulated again after this long without a change
GAP = 1.0  # seconds between two simulations of one run, at least
QUIET = 0.5  # a run that changed is simulated once this long passed without a change…
MAX_WAIT = 5.0  # …or once its forecast is this old while a burst goes on
REST = 3.0  # after a simulation of d seconds, rest REST × d before the next one
POLL = 1.0  # other processes' changes on SQLite (no wake crosses processes) are seen this often
CLAIM_S = 120.0  # a claim not stored within this long (its process died) is free again


class Forecaster:
    def __init__(self, store: Store, *, name: str | None = None, poll: float = POLL):
        self.store = store
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.poll = poll
        self.simulations = 0  # simulations run by this forecaster (tests and benchmarks count them)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failed: dict[str, tuple[int, float]] = {}  # run → (its seq, monotonic time to try again)

    def start(self) -> Forecaster:
        signals.subscribe(self.wake)
        self.store.listen_for_wakes()  # PostgreSQL: other processes' changes wake us too
        self._thread = threading.Thread(target=self._loop, name=f"forecaster-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        self._wake.set()
        signals.unsubscribe(self.wake)
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self, _run_id: str) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                delay = self.round()
            except Exception:  # the store may be briefly unreachable: keep trying
                log.exception("forecaster %s: round failed", self.name)
                delay = self.poll
            if delay > 0:
                self._wake.wait(min(delay, self.poll))
                if self._wake.is_set():  # a change: nothing it makes due is due before QUIET
                    self._stop.wait(QUIET)  # (one round for a burst of wakes, not one each)

    def round(self) -> float:
        """Bring the run most behind up to date; the seconds to wait before the next round (0:
        go on at once)."""
        now = utcnow()
        with self.store.read() as r:
            states = r.forecast_states()
        due, soonest = [], self.poll
        for row in states:
            wait = self._wait(row, now)
            if wait <= 0:
                due.append(row)
            else:
                soonest = min(soonest, wait)
        due.sort(key=lambda row: (row["as_of"] is not None, row["computed_at"] or now))  # never forecast first
        for row in due:
            if self._stop.is_set():
                return 0
            try:
                took = self.refresh(row["id"])
            except Exception:  # this run's forecast failed: the others go on; it is tried again later
                log.exception("forecaster %s: run %s could not be forecast", self.name, row["id"])
                self._failed[row["id"]] = (row["seq"] or 0, time.monotonic() + FRESH_S)
                continue
            if took is not None:
                self._failed.pop(row["id"], None)
                self._stop.wait(REST * took)
                return 0
        return soonest

    def _wait(self, row: dict[str, Any], now: datetime) -> float:
        """Seconds until the run is due (≤ 0: now)."""
        failed = self._failed.get(row["id"])
        if failed is not None and failed[0] == (row["seq"] or 0) and failed[1] > time.monotonic():
            return failed[1] - time.monotonic()  # failed at this seq: again when it changes, or later
        if row["busy_by"] not in (None, self.name) and row["busy_until"] and row["busy_until"] > now:
            return (row["busy_until"] - now).total_seconds()  # another process is simulating it
        if row["as_of"] is None or row["as_of"] < 0 or row["computed_at"] is None:
            return 0
        age = (now - row["computed_at"]).total_seconds()
        if (row["seq"] or 0) > row["as_of"]:
            quiet = (now - row["changed_at"]).total_seconds() if row["changed_at"] else QUIET
            return max(GAP - age, min(QUIET - quiet, MAX_WAIT - age))
        return FRESH_S - age

    def refresh(self, run_id: str) -> float | None:
        """Simulate the run now if its claim is ours: the seconds it took, or None (claimed by
        another process, or no longer running)."""
        now = utcnow()
        with self.store.transaction() as tx:
            if not tx.claim_forecast(run_id, self.name, now, now + timedelta(seconds=CLAIM_S)):
                return None
        started = time.monotonic()
        stored = False
        try:
            with self.store.read() as r:  # the seq first: the model read after it is at least as new
                seq = r.last_event_seq(run_id)
                row = r.run_head(run_id)
                if row is None or row["state"] != "running":
                    return None
                plan = plan_of(row, r)
                at = utcnow()
                model = forecast.run_model(r, row, plan, at)
            trials = forecast.trials_for(model)
            data = forecast.simulate_run(model, row["started_at"], trials)  # outside the read: no snapshot held
            self.simulations += 1
            with self.store.transaction() as tx:
                stored = tx.put_forecast(run_id, self.name, seq, data, trials, at)  # the claim ends with it
            return time.monotonic() - started
        finally:
            if not stored:
                with self.store.transaction() as tx:
                    tx.release_forecast(run_id, self.name)
