"""`Reader` and `Tx`, composed of the store's mixins (runs and tasks, Idempotency-Key records,
outbox, people, dashboard, stats, leases, settings), with what a transaction itself owns: the lock on an
audit chain's head (which serialises the writers of a run), the chain's appends, the wake sent
when it commits."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection

from ..audit import GENESIS, entry_hash
from .base import insert_ignore, json_ready, utcnow
from .board import BoardReads
from .idempotency import IdempotencyReads, IdempotencyWrites
from .leases import LeaseReads, LeaseWrites
from .outbox import OutboxReads, OutboxWrites
from .people import PeopleReads, PeopleWrites
from .runs import RunReads, RunWrites
from .schema import audit, audit_heads
from .settings import SettingReads, SettingWrites
from .stats import StatsReads
from .wake import notify_run

_LOCK_HEAD = select(audit_heads).where(audit_heads.c.chain == bindparam("chain")).with_for_update()
_INSERT_AUDIT = insert(audit)
_UPDATE_HEAD = (
    update(audit_heads)
    .where(audit_heads.c.chain == bindparam("chain_key"))
    .values(n=bindparam("head_n"), hash=bindparam("head_hash"))
)


class Reader(RunReads, IdempotencyReads, OutboxReads, PeopleReads, BoardReads, StatsReads, LeaseReads, SettingReads):
    """Read queries over one connection."""

    def __init__(self, conn: Connection):
        self.conn = conn

    def audit(self, chain: str) -> list[dict[str, Any]]:
        return self.fetch_all(select(audit).where(audit.c.chain == chain).order_by(audit.c.n))

    def audit_head(self, chain: str) -> dict[str, Any] | None:
        return self.fetch_one(select(audit_heads).where(audit_heads.c.chain == chain))


class Tx(Reader, RunWrites, IdempotencyWrites, OutboxWrites, PeopleWrites, LeaseWrites, SettingWrites):
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
