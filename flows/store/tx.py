"""`Reader` and `Tx`, composed of the store's mixins (the audit log, runs and tasks,
Idempotency-Key records, outbox, people, dashboard, stats, leases, settings), with what a
transaction itself owns: the audit key it signs with and the wake sent when it commits."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from ..audit_keys import Keyring
from .audit_log import AuditReads, AuditWrites
from .board import BoardReads
from .idempotency import IdempotencyReads, IdempotencyWrites
from .leases import LeaseReads, LeaseWrites
from .oidc import OidcReads, OidcWrites
from .outbox import OutboxReads, OutboxWrites
from .people import PeopleReads, PeopleWrites
from .runs import RunReads, RunWrites
from .settings import SettingReads, SettingWrites
from .stats import StatsReads
from .wake import notify_run


class Reader(
    AuditReads,
    RunReads,
    IdempotencyReads,
    OutboxReads,
    PeopleReads,
    BoardReads,
    StatsReads,
    LeaseReads,
    SettingReads,
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
    OidcWrites,
):
    """Writes inside one transaction. Call `lock_chain` first: it serialises writers of a run."""

    def __init__(self, conn: Connection, dialect: str, keys: Keyring):
        super().__init__(conn)
        self.dialect = dialect
        self.keys = keys
        self._heads: dict[str, tuple[int, str]] = {}

    def notify_run(self, run_id: str) -> None:
        """Wake the run's runner, in whichever process it is, when this transaction commits."""
        notify_run(self.conn, self.dialect, run_id)
