"""Store: the engine's source of truth (SQLAlchemy 2 Core) — the only package that writes SQL
(tables in `schema.py`; the outbox's SQL in `outbox.py`; roll calls, pools and accounts in
`people.py`, the dashboard's in `board.py`, mixed into `Reader` and `Tx` here).

SQLite in WAL mode under `$RUNBOOK_HOME` (default `./.runbook`) by default; PostgreSQL when
`RUNBOOK_DATABASE_URL` names one. Every write happens in `Store.transaction()`, which on
SQLite begins IMMEDIATE (one writer, no lock-upgrade deadlocks) and on PostgreSQL locks the
audit chain's head row, so the transitions of one run are serialised and each is one
transaction with its audit row.
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, create_engine, event, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from ..audit import GENESIS, entry_hash
from .base import insert_ignore, json_ready, utcnow
from .board import BoardReads
from .leases import PENDING, LeaseReads, LeaseWrites
from .outbox import OutboxReads, OutboxWrites
from .people import PeopleReads, PeopleWrites
from .schema import (
    audit,
    audit_heads,
    checkoffs,
    events,
    idempotency,
    lockdowns,
    metadata,
    objectives,
    run_steps,
    runs,
    tasks,
)
from .stats import StatsReads
from .wake import WakeListener, notify_run

__all__ = ["Store", "Tx", "IntegrityError", "PENDING", "runbook_home", "database_url", "metadata", "utcnow"]


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


# Statements of the hot path, built once: building a statement costs more Python time than
# running it on SQLite (a check-off runs about 17 of them).
_RUN_HEAD = select(*[c for c in runs.c if c.name not in ("source", "site_snapshot")]).where(
    runs.c.id == bindparam("run_id")
)
_TASK = select(tasks).where(tasks.c.run_id == bindparam("run_id"), tasks.c.id == bindparam("task_id"))
_LOCK_HEAD = select(audit_heads).where(audit_heads.c.chain == bindparam("chain")).with_for_update()
_INSERT_AUDIT = insert(audit)
_UPDATE_HEAD = (
    update(audit_heads)
    .where(audit_heads.c.chain == bindparam("chain_key"))
    .values(n=bindparam("head_n"), hash=bindparam("head_hash"))
)
_INSERT_EVENT = insert(events)
_INSERT_CHECKOFF = insert(checkoffs)
_UPDATES: dict[tuple[tuple[str, ...], int], Any] = {}


def _task_update(columns: tuple[str, ...], expected: int) -> Any:
    """UPDATE tasks SET <columns> WHERE run, id [AND state IN (<expected> states)], cached."""
    key = (columns, expected)
    stmt = _UPDATES.get(key)
    if stmt is None:
        stmt = update(tasks).where(tasks.c.run_id == bindparam("w_run"), tasks.c.id == bindparam("w_id"))
        if expected:
            stmt = stmt.where(tasks.c.state.in_([bindparam(f"w_state{i}") for i in range(expected)]))
        stmt = stmt.values({c: bindparam(c) for c in columns})
        _UPDATES[key] = stmt
    return stmt


class Reader(OutboxReads, PeopleReads, BoardReads, StatsReads, LeaseReads):
    """Read queries over one connection."""

    def __init__(self, conn: Connection):
        self.conn = conn

    def run(self, run_id: str) -> dict[str, Any] | None:
        return self.fetch_one(select(runs).where(runs.c.id == run_id))

    def run_head(self, run_id: str) -> dict[str, Any] | None:
        """A run without its runbook source and site snapshot (the hot path of a check-off)."""
        r = self.conn.execute(_RUN_HEAD, {"run_id": run_id}).first()
        return dict(r._mapping) if r is not None else None

    def runs(
        self, *, states: Sequence[str] | None = None, site_id: str | None = None, lockdown_id: str | None = None
    ) -> list[dict[str, Any]]:
        stmt = select(runs).order_by(runs.c.started_at, runs.c.id)
        if states:
            stmt = stmt.where(runs.c.state.in_(states))
        if site_id:
            stmt = stmt.where(runs.c.site_id == site_id)
        if lockdown_id:
            stmt = stmt.where(runs.c.lockdown_id == lockdown_id)
        return self.fetch_all(stmt)

    def due_tasks(self, run_id: str, now: datetime, kinds: Sequence[str]) -> list[dict[str, Any]]:
        """Ready tasks of `kinds` whose next attempt is due, and open human tasks past their due time."""
        ready = (tasks.c.state == "ready") & (tasks.c.next_attempt_at <= now) & tasks.c.kind.in_(kinds)
        late = tasks.c.state.in_(["waiting"]) & (tasks.c.due_at <= now) & tasks.c.overdue_at.is_(None)
        timer = (tasks.c.state == "waiting") & (tasks.c.timer_at <= now)
        return self.fetch_all(select(tasks).where(tasks.c.run_id == run_id, ready | late | timer).order_by(tasks.c.pk))

    def next_wake(self, run_id: str, kinds: Sequence[str]) -> datetime | None:
        ready = select(func.min(tasks.c.next_attempt_at)).where(
            tasks.c.run_id == run_id, tasks.c.state == "ready", tasks.c.kind.in_(kinds)
        )
        late = select(func.min(tasks.c.due_at)).where(
            tasks.c.run_id == run_id, tasks.c.state == "waiting", tasks.c.overdue_at.is_(None)
        )
        timer = select(func.min(tasks.c.timer_at)).where(tasks.c.run_id == run_id, tasks.c.state == "waiting")
        times = [self.conn.execute(ready).scalar(), self.conn.execute(late).scalar(), self.conn.execute(timer).scalar()]
        times = [t.replace(tzinfo=UTC) if t and t.tzinfo is None else t for t in times]
        return min((t for t in times if t is not None), default=None)

    def active_lockdown(self, site_id: str) -> dict[str, Any] | None:
        return self.fetch_one(select(lockdowns).where(lockdowns.c.active_site == site_id))

    def tasks(
        self,
        run_id: str,
        *,
        steps: Sequence[str] | None = None,
        states: Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
        item_key: str | None = None,
    ) -> list[dict[str, Any]]:
        stmt = select(tasks).where(tasks.c.run_id == run_id).order_by(tasks.c.pk)
        if steps is not None:
            stmt = stmt.where(tasks.c.step_id.in_(steps))
        if states is not None:
            stmt = stmt.where(tasks.c.state.in_(states))
        if ids is not None:
            stmt = stmt.where(tasks.c.id.in_(ids))
        if item_key is not None:
            stmt = stmt.where(tasks.c.item_key == item_key)
        return self.fetch_all(stmt)

    def task(self, run_id: str, task_id: str) -> dict[str, Any] | None:
        r = self.conn.execute(_TASK, {"run_id": run_id, "task_id": task_id}).first()
        return dict(r._mapping) if r is not None else None

    def run_steps(self, run_id: str) -> dict[str, dict[str, Any]]:
        return {r["step_id"]: r for r in self.fetch_all(select(run_steps).where(run_steps.c.run_id == run_id))}

    def count_tasks(
        self, run_id: str, *, steps: Sequence[str] | None = None, states: Sequence[str] | None = None
    ) -> int:
        stmt = select(func.count()).select_from(tasks).where(tasks.c.run_id == run_id)
        if steps is not None:
            stmt = stmt.where(tasks.c.step_id.in_(steps))
        if states is not None:
            stmt = stmt.where(tasks.c.state.in_(states))
        return int(self.conn.execute(stmt).scalar_one())

    def counts_by_step(self, run_id: str) -> dict[str, dict[str, int]]:
        stmt = (
            select(tasks.c.step_id, tasks.c.state, func.count())
            .where(tasks.c.run_id == run_id)
            .group_by(tasks.c.step_id, tasks.c.state)
        )
        out: dict[str, dict[str, int]] = {}
        for step_id, state, n in self.conn.execute(stmt):
            out.setdefault(step_id, {})[state] = int(n)
        return out

    def checkoffs(self, run_id: str, task_id: str | None = None) -> list[dict[str, Any]]:
        stmt = select(checkoffs).where(checkoffs.c.run_id == run_id).order_by(checkoffs.c.pk)
        if task_id is not None:
            stmt = stmt.where(checkoffs.c.task_id == task_id)
        return self.fetch_all(stmt)

    def audit(self, chain: str) -> list[dict[str, Any]]:
        return self.fetch_all(select(audit).where(audit.c.chain == chain).order_by(audit.c.n))

    def audit_head(self, chain: str) -> dict[str, Any] | None:
        return self.fetch_one(select(audit_heads).where(audit_heads.c.chain == chain))

    def events(self, run_id: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        return self.fetch_all(
            select(events).where(events.c.run_id == run_id, events.c.seq > after).order_by(events.c.seq).limit(limit)
        )

    def events_named(self, run_id: str, name: str) -> list[dict[str, Any]]:
        return self.fetch_all(
            select(events).where(events.c.run_id == run_id, events.c.name == name).order_by(events.c.seq)
        )

    def last_event_seq(self, run_id: str) -> int:
        return self.conn.execute(select(func.max(events.c.seq)).where(events.c.run_id == run_id)).scalar() or 0

    def idempotent(self, key: str) -> dict[str, Any] | None:
        return self.fetch_one(select(idempotency).where(idempotency.c.key == key))

    def objectives_met(self, run_id: str) -> dict[str, datetime]:
        rows = self.fetch_all(select(objectives).where(objectives.c.run_id == run_id))
        return {r["objective_id"]: r["met_at"] for r in rows}


class Tx(Reader, OutboxWrites, PeopleWrites, LeaseWrites):
    """Writes inside one transaction. Call `lock_chain` first: it serialises writers of a run."""

    def __init__(self, conn: Connection, dialect: str):
        super().__init__(conn)
        self.dialect = dialect
        self._heads: dict[str, tuple[int, str]] = {}

    def lock_chain(self, chain: str) -> None:
        if chain in self._heads:
            return
        row = self.conn.execute(_LOCK_HEAD, {"chain": chain}).first()
        if row is None:  # a new chain: create its head (a concurrent creator may win; then lock theirs)
            self.conn.execute(insert_ignore(self.dialect, audit_heads).values(chain=chain, n=0, hash=GENESIS))
            row = self.conn.execute(_LOCK_HEAD, {"chain": chain}).one()
        self._heads[chain] = (int(row.n), row.hash)

    def append_audit(
        self,
        chain: str,
        *,
        actor: str,
        action: str,
        target: str | None = None,
        reason: str | None = None,
        detail: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> None:
        self.lock_chain(chain)
        n, prev = self._heads[chain]
        entry = {
            "chain": chain,
            "n": n + 1,
            "at": at or utcnow(),
            "actor": actor,
            "action": action,
            "target": target,
            "reason": reason,
            "detail": json_ready(dict(detail) if detail else None),
        }
        digest = entry_hash(prev, entry)
        self.conn.execute(_INSERT_AUDIT, {**entry, "prev_hash": prev, "hash": digest})
        self.conn.execute(_UPDATE_HEAD, {"chain_key": chain, "head_n": n + 1, "head_hash": digest})
        self._heads[chain] = (n + 1, digest)

    def notify_run(self, run_id: str) -> None:
        """Wake the run's runner, in whichever process it is, when this transaction commits."""
        notify_run(self.conn, self.dialect, run_id)

    def insert_lockdown(self, row: Mapping[str, Any]) -> None:
        self.conn.execute(insert(lockdowns).values(**row))

    def end_lockdown(self, lockdown_id: str, *, at: datetime, by: str) -> None:
        self.conn.execute(
            update(lockdowns).where(lockdowns.c.id == lockdown_id).values(active_site=None, ended_at=at, ended_by=by)
        )

    def insert_run(self, row: Mapping[str, Any]) -> None:
        self.conn.execute(insert(runs).values(**row))

    def update_run(self, run_id: str, **values: Any) -> None:
        """Columns of a run other than its state (flows/states.transition_run writes that)."""
        if "state" in values:
            raise ValueError("a run's state is written by flows.states.transition_run only")
        self.conn.execute(update(runs).where(runs.c.id == run_id).values(**values))

    def write_run_state(self, run_id: str, old: str, new: str, **values: Any) -> None:
        self.conn.execute(update(runs).where(runs.c.id == run_id, runs.c.state == old).values(state=new, **values))

    def insert_run_steps(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.conn.execute(insert(run_steps), [dict(r) for r in rows])

    def update_run_step(self, run_id: str, step_id: str, **values: Any) -> None:
        self.conn.execute(
            update(run_steps).where(run_steps.c.run_id == run_id, run_steps.c.step_id == step_id).values(**values)
        )

    def insert_tasks(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.conn.execute(
                insert(tasks),
                [{**r, "item": json_ready(r.get("item")), "outputs": json_ready(r.get("outputs"))} for r in rows],
            )

    def update_task(self, run_id: str, task_id: str, *, expect: Sequence[str] | None = None, **values: Any) -> bool:
        """Update columns of one task other than its state; with `expect`, only if its state is
        one of those. True if it changed. States change through flows/states.transition only."""
        if "state" in values:
            raise ValueError("a task's state is written by flows.states.transition only")
        return self._update_task(run_id, task_id, expect, values)

    def write_task_state(self, run_id: str, task_id: str, expect: Sequence[str], state: str, **values: Any) -> bool:
        return self._update_task(run_id, task_id, expect, {**values, "state": state})

    def _update_task(self, run_id: str, task_id: str, expect: Sequence[str] | None, values: dict[str, Any]) -> bool:
        if "outputs" in values:
            values["outputs"] = json_ready(values["outputs"])
        expected = list(expect) if expect is not None else []
        stmt = _task_update(tuple(sorted(values)), len(expected))
        params = {**values, "w_run": run_id, "w_id": task_id, **{f"w_state{i}": s for i, s in enumerate(expected)}}
        return self.conn.execute(stmt, params).rowcount == 1

    def insert_checkoff(self, row: Mapping[str, Any]) -> None:
        self.conn.execute(
            _INSERT_CHECKOFF, {"note": None, "reason": None, **row, "fields": json_ready(row.get("fields"))}
        )

    def insert_event(self, row: Mapping[str, Any]) -> None:
        self.conn.execute(
            _INSERT_EVENT,
            {"task_id": None, "run_id": None, "site_id": None, **row, "data": json_ready(row.get("data"))},
        )

    def save_idempotent(self, key: str, fingerprint: str, response: Any) -> None:
        self.conn.execute(
            insert(idempotency).values(key=key, fingerprint=fingerprint, response=json_ready(response), at=utcnow())
        )

    def mark_objective(self, run_id: str, objective_id: str, met_at: datetime) -> None:
        self.conn.execute(
            insert_ignore(self.dialect, objectives).values(run_id=run_id, objective_id=objective_id, met_at=met_at)
        )


class FifoLock:
    """A lock granted in arrival order: a thread that just released it cannot jump the queue
    (threading.Lock lets it, and one team lead's check-off then waits behind fifty others)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiters: collections.deque[threading.Event] = collections.deque()
        self._held = False

    def __enter__(self) -> None:
        with self._mutex:
            if not self._held and not self._waiters:
                self._held = True
                return
            turn = threading.Event()
            self._waiters.append(turn)
        turn.wait()  # the releaser hands the lock over directly

    def __exit__(self, *exc: Any) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().set()
            else:
                self._held = False


class Store:
    """One engine per process; `transaction()` for writes, `read()` for queries."""

    def __init__(self, url: str | None = None, *, migrate: bool = True, pool: tuple[int, int] | None = None):
        """`pool`: (size, overflow) of PostgreSQL connections; default RUNBOOK_DB_POOL_SIZE (10)
        and RUNBOOK_DB_MAX_OVERFLOW (40). A process that drives one run needs far fewer."""
        self.url = url or database_url()
        self.engine = _make_engine(self.url, pool)
        self.dialect = self.engine.dialect.name
        # SQLite has one writer: queue this process's writers on a FIFO lock rather than on
        # SQLite's busy handler, which polls with growing sleeps and starves some threads for
        # seconds. On PostgreSQL, writers of one run (`serial` key) queue the same way before
        # they queue on the run's row lock, which other processes also take.
        self._writer = FifoLock() if self.dialect == "sqlite" else None
        self._serial: dict[str, FifoLock] = {}
        self._serial_mutex = threading.Lock()
        self._listener: WakeListener | None = None
        self._listener_mutex = threading.Lock()
        if migrate:
            from .migrate import upgrade

            upgrade(self.engine)

    @contextlib.contextmanager
    def transaction(self, serial: str | None = None) -> Iterator[Tx]:
        """A write transaction; `serial` names what it serialises on (a run id)."""
        lock: Any = self._writer
        if lock is None and serial is not None:
            with self._serial_mutex:
                lock = self._serial.setdefault(serial, FifoLock())
        with lock or contextlib.nullcontext(), self.engine.begin() as conn:
            yield Tx(conn, self.dialect)

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


def _make_engine(url: str, pool: tuple[int, int] | None = None) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, pool_size=8, max_overflow=56, pool_timeout=120)

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
