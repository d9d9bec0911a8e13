"""`Reader` and `Tx`, composed of the store's mixins (the audit log, runs and tasks,
Idempotency-Key records, outbox, people, dashboard, stats, leases, settings, shift plans and loans,
grants and check-ins, Prefect's mirror, forecasts, findings), with what a transaction itself owns: the audit
key it signs with, its savepoints and the wake sent when it commits."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from ..audit_keys import Keyring
from .audit_log import AuditReads, AuditWrites
from .base import copy_value
from .board import BoardReads
from .counts import CountReads
from .findings import FindingReads, FindingWrites
from .forecasts import ForecastReads, ForecastWrites
from .grants import CheckinReads, CheckinWrites, GrantReads, GrantWrites
from .idempotency import IdempotencyReads, IdempotencyWrites
from .leases import LeaseReads, LeaseWrites
from .mirror import MirrorReads, MirrorWrites
from .oidc import OidcReads, OidcWrites
from .outbox import OutboxReads, OutboxWrites
from .people import PeopleReads, PeopleWrites
from .runs import RunReads, RunWrites
from .settings import SettingReads, SettingWrites
from .shifts import ShiftReads, ShiftWrites
from .stats import StatsReads
from .task_pages import PAGE
from .wake import notify_run


class Reader(
    AuditReads,
    RunReads,
    CountReads,
    IdempotencyReads,
    OutboxReads,
    PeopleReads,
    BoardReads,
    StatsReads,
    LeaseReads,
    SettingReads,
    ShiftReads,
    GrantReads,
    CheckinReads,
    MirrorReads,
    ForecastReads,
    FindingReads,
    OidcReads,
):
    """Read queries over one connection."""

    def __init__(self, conn: Connection):
        self.conn = conn


class Tx(
    Reader,
    AuditWrites,
    RunWrites,
    IdempotencyWrites,
    OutboxWrites,
    PeopleWrites,
    LeaseWrites,
    SettingWrites,
    ShiftWrites,
    GrantWrites,
    CheckinWrites,
    MirrorWrites,
    ForecastWrites,
    FindingWrites,
    OidcWrites,
):
    """Writes inside one transaction. Call `lock_chain` first: it serialises writers of a run."""

    def __init__(self, conn: Connection, dialect: str, keys: Keyring):
        super().__init__(conn)
        self.dialect = dialect
        self.keys = keys
        self._heads: dict[str, tuple[int, str]] = {}
        self._pending_audit: list[dict[str, Any]] = []
        self._task_deltas: dict[tuple[str, str, str], int] = {}
        self._done_deltas: dict[tuple[str, str, int], int] = {}
        self._task_rows: dict[tuple[str, str], dict[str, Any] | None] = {}  # None: absent
        self._pending_events: list[dict[str, Any]] = []
        self._pending_checkoffs: list[dict[str, Any]] = []
        self._pending_outbox: list[dict[str, Any]] = []
        self._stored_counts: dict[str, dict[str, dict[str, int]]] = {}
        # Read once per transaction (a group of changes shares them), dropped by this
        # transaction's writes of the same rows (RunWrites) and by a savepoint's rollback.
        self._kept: dict[tuple[str, str], Any] = {}

    def _once(self, key: tuple[str, str], read: Any) -> Any:
        if key not in self._kept:
            self._kept[key] = read()
        return copy_value(self._kept[key])

    def read_tasks(self, run_id: str, ids: Sequence[str], page: int = PAGE) -> None:
        """Read these tasks in pages of `page` (one statement a page, not one a task) and keep
        them (or that they are absent) for `task()`: the runner's record of a batch of results, a
        check-off's task with the items that wait on it."""
        wanted = [i for i in dict.fromkeys(ids) if (run_id, i) not in self._task_rows]
        for start in range(0, len(wanted), page):
            chunk = wanted[start : start + page]
            found = {row["id"]: row for row in self.tasks(run_id, ids=chunk)}
            for task_id in chunk:
                self._task_rows[(run_id, task_id)] = found.get(task_id)

    def run_head(self, run_id: str) -> dict[str, Any] | None:
        return self._once(("run", run_id), lambda: super(Tx, self).run_head(run_id))

    def run_steps(self, run_id: str) -> dict[str, dict[str, Any]]:
        return self._once(("steps", run_id), lambda: super(Tx, self).run_steps(run_id))

    def setting(self, name: str) -> str | None:
        return self._once(("setting", name), lambda: super(Tx, self).setting(name))

    def task(self, run_id: str, task_id: str) -> dict[str, Any] | None:
        """A task, read from the store once per transaction, then from this transaction's copy,
        which its writes keep in step (RunWrites: its inserts and updates). A task found absent
        stays absent until this transaction inserts it (a run's tasks are only added under its
        lock). A copy is handed out each time."""
        key = (run_id, task_id)
        if key in self._task_rows:
            row = self._task_rows[key]
        else:
            row = self._task_rows[key] = super().task(run_id, task_id)
        return copy_value(row) if row is not None else None

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """A part of this transaction that an error rolls back alone (the audit heads it moved
        included); the error goes on to the caller. Group commit runs each change in one.
        What waits in memory to be written is restored as it was at the start: rows written
        meanwhile (a read inside the part writes what waits) are rolled back with the part,
        those of earlier parts among them, and wait again."""
        held = self._held()
        nested = self.conn.begin_nested()
        try:
            yield
        except BaseException:
            nested.rollback()
            self._restore(held)
            self._task_rows.clear()  # what the rolled-back part wrote is gone
            self._kept.clear()
            self._stored_counts.clear()
            raise
        nested.commit()

    def _held(self) -> tuple[Any, ...]:
        return (
            dict(self._heads),
            list(self._pending_audit),
            dict(self._task_deltas),
            dict(self._done_deltas),
            list(self._pending_events),
            list(self._pending_checkoffs),
            list(self._pending_outbox),
        )

    def _restore(self, held: tuple[Any, ...]) -> None:
        (
            self._heads,
            self._pending_audit,  # its audit rows were sealed but not written
            self._task_deltas,  # and its counts never happened
            self._done_deltas,
            self._pending_events,
            self._pending_checkoffs,
            self._pending_outbox,
        ) = held

    def flush(self) -> None:
        """What this transaction still holds in memory goes to the store: before its commit
        (Store.transaction), and before a read that must see it."""
        self.flush_rows()
        self.flush_outbox()
        self.flush_audit()
        self.flush_counts()

    def before_commit(self) -> None:
        self.flush()

    # Reads of other mixins that see the rows waiting in memory.
    def deliveries(self, run_id: str) -> list[dict[str, Any]]:
        self.flush()
        return super().deliveries(run_id)

    def forecast_states(self) -> list[dict[str, Any]]:
        self.flush()
        return super().forecast_states()

    def notify_run(self, run_id: str) -> None:
        """Wake the run's runner, in whichever process it is, when this transaction commits."""
        notify_run(self.conn, self.dialect, run_id)
