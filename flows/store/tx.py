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
        self._task_rows: dict[tuple[str, str], dict[str, Any]] = {}
        # Read once per transaction (a group of changes shares them), dropped by this
        # transaction's writes of the same rows (RunWrites) and by a savepoint's rollback.
        self._kept: dict[tuple[str, str], Any] = {}

    def _once(self, key: tuple[str, str], read: Any) -> Any:
        if key not in self._kept:
            self._kept[key] = read()
        return copy_value(self._kept[key])

    def read_tasks(self, run_id: str, ids: Sequence[str], page: int = PAGE) -> None:
        """Read these tasks in pages of `page` (one statement a page, not one a task) and keep
        them for `task()`: the runner's record of a batch of results."""
        wanted = [i for i in dict.fromkeys(ids) if (run_id, i) not in self._task_rows]
        for start in range(0, len(wanted), page):
            for row in self.tasks(run_id, ids=wanted[start : start + page]):
                self._task_rows[(run_id, row["id"])] = row

    def run_head(self, run_id: str) -> dict[str, Any] | None:
        return self._once(("run", run_id), lambda: super(Tx, self).run_head(run_id))

    def run_steps(self, run_id: str) -> dict[str, dict[str, Any]]:
        return self._once(("steps", run_id), lambda: super(Tx, self).run_steps(run_id))

    def setting(self, name: str) -> str | None:
        return self._once(("setting", name), lambda: super(Tx, self).setting(name))

    def task(self, run_id: str, task_id: str) -> dict[str, Any] | None:
        """A task, read from the store once per transaction, then from this transaction's copy,
        which its writes keep in step (RunWrites._update_task). A copy is handed out each time."""
        key = (run_id, task_id)
        row = self._task_rows.get(key)
        if row is None:
            row = super().task(run_id, task_id)
            if row is None:
                return None
            self._task_rows[key] = row
        return copy_value(row)

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """A part of this transaction that an error rolls back alone (the audit heads it moved
        included); the error goes on to the caller. Group commit runs each change in one."""
        heads, sealed, deltas = dict(self._heads), len(self._pending_audit), dict(self._task_deltas)
        done = dict(self._done_deltas)
        nested = self.conn.begin_nested()
        try:
            yield
        except BaseException:
            nested.rollback()
            self._heads = heads
            del self._pending_audit[sealed:]  # its audit rows were sealed but not written
            self._task_deltas = deltas  # and its counts never happened
            self._done_deltas = done
            self._task_rows.clear()  # what the rolled-back part wrote is gone
            self._kept.clear()
            raise
        nested.commit()

    def before_commit(self) -> None:
        """What this transaction still holds in memory goes to the store (Store.transaction)."""
        self.flush_audit()
        self.flush_counts()

    def notify_run(self, run_id: str) -> None:
        """Wake the run's runner, in whichever process it is, when this transaction commits."""
        notify_run(self.conn, self.dialect, run_id)
