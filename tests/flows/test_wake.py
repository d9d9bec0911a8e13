"""Wake-ups across processes on PostgreSQL: a change committed by another process (an API
replica, the CLI) reaches this process's subscribers through LISTEN/NOTIFY, so the runner that
owns the run acts at once instead of at its next poll; on SQLite nothing listens."""

from __future__ import annotations

import os
import subprocess
import threading

from sqlalchemy import text

from flows import signals
from flows.actors import local_operator
from flows.lifecycle import Engine
from flows.store import Store, metadata
from tests.support.processes import RUNBOOK, wait_for


class Heard:
    def __init__(self) -> None:
        self.ids: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, run_id: str) -> None:
        with self.lock:
            self.ids.append(run_id)

    def count(self, run_id: str) -> int:
        with self.lock:
            return self.ids.count(run_id)


def _empty(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(t.name for t in metadata.sorted_tables) + " CASCADE"))


def test_a_checkoff_committed_by_another_process_wakes_this_one_on_postgresql(pg_url, lab_env):
    here = Store(pg_url)
    _empty(here)
    heard = Heard()
    signals.subscribe(heard)
    try:
        listener = here.listen_for_wakes()
        assert listener is not None and here.listen_for_wakes() is listener, "one listener per store"
        wait_for(listener.listening.is_set, 30, what="LISTEN")
        elsewhere = Store(pg_url)  # another engine: its commits reach us only through PostgreSQL
        try:
            run = Engine(elsewhere).start("human_response", "lab", local_operator())["id"]
            wait_for(lambda: heard.count(run) >= 1, 30, what="the new run's notification")
        finally:
            elsewhere.dispose()
        before = heard.count(run)
        env = {**os.environ, "RUNBOOK_DATABASE_URL": pg_url}
        done = subprocess.run(
            [RUNBOOK, "approve", run, "declare"], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        wait_for(lambda: heard.count(run) > before, 30, what="the CLI's check-off, from another process")
    finally:
        signals.unsubscribe(heard)
        here.dispose()
    assert not listener.listening.is_set(), "dispose stops the listener"


def test_sqlite_needs_no_listener(lab_env):
    store = Store()
    try:
        assert store.listen_for_wakes() is None
    finally:
        store.dispose()
