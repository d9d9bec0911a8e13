"""Wake-ups across processes (PostgreSQL): a committed change of run X → `NOTIFY runbook_run, 'X'`
→ every process listening calls `signals.publish("X")`, so a check-off taken by one API replica
wakes the runner that owns the run in another process at once. Polling (about a second) stays
the fallback: a notification missed while a listener reconnects costs that second, nothing more.
SQLite has one process writing, so it needs none of this (`notify_run` does nothing there).
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

from .. import signals

log = logging.getLogger("runbook.wake")

CHANNEL = "runbook_run"
_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', :run_id)")


def notify_run(conn: Connection, dialect: str, run_id: str) -> None:
    """Inside a write transaction: PostgreSQL delivers it when (and only if) the transaction
    commits, once per run id however many times a transaction names it."""
    if dialect == "postgresql":
        conn.execute(_NOTIFY, {"run_id": run_id})


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (`postgresql+psycopg://…`) → the plain URL psycopg connects with."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class WakeListener:
    """`LISTEN runbook_run` on a dedicated connection in a daemon thread; each notification's
    run id goes to this process's subscribers (`signals`). Reconnects with backoff; after a
    reconnect every subscriber is woken once ("*"), since notifications may have been missed."""

    def __init__(self, url: str, *, poll: float = 0.5):
        self.url, self.poll = libpq_url(url), poll
        self.listening = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> WakeListener:
        self._thread = threading.Thread(target=self._loop, name="pg-wake-listener", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        import psycopg

        backoff = 0.5
        first = True
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    backoff = 0.5
                    if not first:
                        signals.publish(signals.EVERY_RUN)
                    first = False
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=self.poll):
                            signals.publish(note.payload)
            except Exception as e:  # the server restarted or is unreachable: polling covers the gap
                self.listening.clear()
                log.warning("wake listener: %s: %s; retrying in %.1f s", type(e).__name__, e, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
        self.listening.clear()
