"""The store's engine: where it lives (`$RUNBOOK_HOME`, `RUNBOOK_DATABASE_URL`) → a SQLAlchemy
engine (SQLite in WAL mode, writers beginning IMMEDIATE; or a PostgreSQL pool), migrated at open,
and `Store`: write transactions queued in arrival order, group commit per run (`groups.py`),
reads on a snapshot, the wake listener."""

from __future__ import annotations

import collections
import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

from ..audit_keys import Keyring, load_keyring
from .groups import GroupCommit
from .tx import Reader, Tx
from .wake import WakeListener


def runbook_home() -> Path:
    return Path(os.environ.get("RUNBOOK_HOME", ".runbook"))


def database_url() -> str:
    url = os.environ.get("RUNBOOK_DATABASE_URL")
    if url:
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url
    home = runbook_home()
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'runbook.db'}"


class FifoLock:
    """A lock granted in arrival order: a thread that just released it cannot jump the queue
    (threading.Lock lets it, and one team lead's check-off then waits behind fifty others)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: collections.deque[threading.Event] = collections.deque()
        self._held = False
        self._owner: int | None = None

    def __enter__(self) -> None:
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me:  # it would wait for itself for ever
                raise RuntimeError("a write transaction inside another on the same database, in one thread")
            if not self._held and not self._waiters:
                self._held, self._owner = True, me
                return
            turn = threading.Event()
            self._waiters.append(turn)
        turn.wait()  # the releaser hands the lock over directly
        self._owner = me

    def __exit__(self, *exc: Any) -> None:
        with self._mutex:
            self._owner = None
            if self._waiters:
                self._waiters.popleft().set()
            else:
                self._held = False


class Store:
    """One engine per process; `transaction()` for writes, `read()` for queries."""

    def __init__(
        self,
        url: str | None = None,
        *,
        migrate: bool = True,
        pool: tuple[int, int] | None = None,
        keys: Keyring | None = None,
    ):
        """`pool`: (size, overflow) of PostgreSQL connections; default RUNBOOK_DB_POOL_SIZE (10)
        and RUNBOOK_DB_MAX_OVERFLOW (40). A process that drives one run needs far fewer.
        `keys`: the audit keyring (default: flows/audit_keys.py's, from the environment)."""
        self.keys = keys or load_keyring(runbook_home())
        self.url = url or database_url()
        self.engine = _make_engine(self.url, pool)
        self.dialect = self.engine.dialect.name
        # SQLite has one writer: queue this process's writers on a FIFO lock rather than on
        # SQLite's busy handler, which polls with growing sleeps and starves some threads for
        # seconds. The lock is the database file's, shared by every Store of the process on it
        # (`runbook demo` runs its players' store beside the server's). On PostgreSQL, writers
        # of one run (`serial` key) queue the same way before they queue on the run's row lock,
        # which other processes also take.
        self._writer = _sqlite_writer(self.url) if self.dialect == "sqlite" else None
        self._serial: dict[str, FifoLock] = {}
        self._serial_mutex = threading.Lock()
        self.groups = GroupCommit(self)
        self._listener: WakeListener | None = None
        self._listener_mutex = threading.Lock()
        self.legacy_problems: dict[str, str] = {}
        if migrate:
            from .migrate import upgrade

            upgrade(self.engine)
            self.legacy_problems = self.resign_legacy_chains()

    def resign_legacy_chains(self) -> dict[str, str]:
        """Re-sign, with the audit key, the chains written before it (migration 0011), each in its
        own transaction; returns the chains left unkeyed because they no longer verified."""
        with self.read() as r:
            chains = r.legacy_chains()
        problems: dict[str, str] = {}
        for chain in chains:
            with self.transaction(serial=chain) as tx:
                problem = tx.resign_legacy_chain(chain)
            if problem is not None:
                problems[chain] = problem
        return problems

    @contextlib.contextmanager
    def transaction(self, serial: str | None = None) -> Iterator[Tx]:
        """A write transaction; `serial` names what it serialises on (a run id)."""
        lock: Any = self._writer
        if lock is None and serial is not None:
            with self._serial_mutex:
                lock = self._serial.setdefault(serial, FifoLock())
        with lock or contextlib.nullcontext(), self.engine.begin() as conn:
            tx = Tx(conn, self.dialect, self.keys)
            yield tx
            tx.before_commit()

    @contextlib.contextmanager
    def read(self) -> Iterator[Reader]:
        with self.engine.connect() as conn:
            conn.execution_options(runbook_read=True)  # SQLite: a deferred BEGIN, no write lock
            yield Reader(conn)
            conn.rollback()

    def listen_for_wakes(self) -> WakeListener | None:
        """PostgreSQL: start (once per store) the listener that turns other processes' committed
        changes into this process's `signals`. SQLite: None (one process writes)."""
        if self.dialect != "postgresql":
            return None
        with self._listener_mutex:
            if self._listener is None:
                self._listener = WakeListener(self.url).start()
            return self._listener

    def dispose(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        self.engine.dispose()


_WRITERS: dict[str, FifoLock] = {}
_WRITERS_MUTEX = threading.Lock()


def _sqlite_writer(url: str) -> FifoLock:
    """The FIFO lock of this process's writers to one SQLite file."""
    with _WRITERS_MUTEX:
        return _WRITERS.setdefault(url, FifoLock())


def _make_engine(url: str, pool: tuple[int, int] | None = None) -> Engine:
    if url.startswith("sqlite"):
        # Connections kept for as many threads as a server runs at once (its worker threads,
        # 40, and its own): an overflow connection is closed when returned, and opening one
        # (file, WAL, pragmas) cost a roll-call answer more than its reads.
        engine = create_engine(url, pool_size=48, max_overflow=48, pool_timeout=120)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised by every test
            # Let SQLAlchemy's begin() decide when a transaction starts (pysqlite's own
            # implicit BEGIN would be DEFERRED and could deadlock on upgrade).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # FULL: an acknowledged check-off survives a power cut, not only a process crash.
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):  # pragma: no cover - exercised by every test
            # Writers take the write lock up front; readers (Store.read) see a snapshot (WAL).
            read = conn.get_execution_options().get("runbook_read")
            conn.exec_driver_sql("BEGIN" if read else "BEGIN IMMEDIATE")

        return engine
    size, overflow = pool or (
        int(os.environ.get("RUNBOOK_DB_POOL_SIZE", "10")),
        int(os.environ.get("RUNBOOK_DB_MAX_OVERFLOW", "40")),
    )
    return create_engine(url, pool_size=size, max_overflow=overflow, pool_timeout=120, pool_pre_ping=True)
