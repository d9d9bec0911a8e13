"""The store's audit log: appends to a chain (signed with the current audit key, under the lock
on the chain's head, which also serialises the writers of a run), reads of chains and heads, and
the one-time re-signing of chains written before the key (migration 0011)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update

from runbooks.clean import escape_controls

from ..audit import GENESIS, entry_hash, verify_chain
from ..audit_keys import Keyring
from .base import Queries, insert_ignore, json_ready, utcnow
from .schema import audit, audit_heads, audit_legacy

_LOCK_HEAD = select(audit_heads).where(audit_heads.c.chain == bindparam("chain")).with_for_update()
_INSERT_AUDIT = insert(audit)
_UPDATE_HEAD = (
    update(audit_heads)
    .where(audit_heads.c.chain == bindparam("chain_key"))
    .values(n=bindparam("head_n"), hash=bindparam("head_hash"))
)


class AuditReads(Queries):
    def audit(self, chain: str) -> list[dict[str, Any]]:
        return self.fetch_all(select(audit).where(audit.c.chain == chain).order_by(audit.c.n))

    def audit_head(self, chain: str) -> dict[str, Any] | None:
        return self.fetch_one(select(audit_heads).where(audit_heads.c.chain == chain))

    def audit_heads(self) -> list[dict[str, Any]]:
        """Every chain's head (count and last hash), by chain."""
        return self.fetch_all(select(audit_heads).order_by(audit_heads.c.chain))

    def legacy_chains(self) -> list[str]:
        return [r["chain"] for r in self.fetch_all(select(audit_legacy.c.chain))]


class AuditWrites(AuditReads):
    keys: Keyring
    _heads: dict[str, tuple[int, str]]
    _pending_audit: list[dict[str, Any]]

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
        # A refusal of a path or text holding a NUL is audited too: PostgreSQL stores no NUL in
        # text, so control characters are kept as `\xNN` escapes (and the row is never lost).
        entry = {
            "chain": chain,
            "n": n + 1,
            "at": at or utcnow(),
            "actor": _printable(actor),
            "action": action,
            "target": _printable(target),
            "reason": _printable(reason),
            "detail": _printable(json_ready(dict(detail) if detail else None)),
        }
        digest = entry_hash(self.keys.current, prev, entry)
        # Sealed now, in order; written at the transaction's end with the others (flush_audit):
        # a group of changes costs one insert of its audit rows and one update of each head.
        self._pending_audit.append({**entry, "prev_hash": prev, "hash": digest, "key_id": self.keys.current_id})
        self._heads[chain] = (n + 1, digest)

    def flush_audit(self) -> None:
        """Write the audit rows sealed so far in this transaction and their chains' heads."""
        if not self._pending_audit:
            return
        rows, self._pending_audit = self._pending_audit, []
        self.conn.execute(_INSERT_AUDIT, rows)
        for chain in dict.fromkeys(r["chain"] for r in rows):
            n, digest = self._heads[chain]
            self.conn.execute(_UPDATE_HEAD, {"chain_key": chain, "head_n": n, "head_hash": digest})

    # Reads inside a writing transaction see what it sealed.
    def audit(self, chain: str) -> list[dict[str, Any]]:
        self.flush_audit()
        return super().audit(chain)

    def audit_head(self, chain: str) -> dict[str, Any] | None:
        self.flush_audit()
        return super().audit_head(chain)

    def audit_heads(self) -> list[dict[str, Any]]:
        self.flush_audit()
        return super().audit_heads()

    def resign_legacy_chain(self, chain: str) -> str | None:
        """Re-sign a chain written before the audit key, if its plain SHA-256 chain still verifies,
        and record the migration at its end. Returns the problem when it does not (the chain is
        then left as it was, and keeps failing verification)."""
        self.lock_chain(chain)
        self.flush_audit()
        still = self.conn.execute(select(audit_legacy.c.chain).where(audit_legacy.c.chain == chain)).first()
        if still is None:  # another process migrated it meanwhile
            return None
        entries = self.audit(chain)
        legacy = {e["n"]: e for e in entries if e["key_id"] is None}
        checked = verify_chain(entries, self.audit_head(chain), {})
        broken = [p for p in checked.problems if "not signed with the audit key" not in p]
        if broken:
            return broken[0]
        prev = GENESIS
        for e in entries:
            digest = entry_hash(self.keys.current, prev, e)
            values = {"prev_hash": prev, "hash": digest, "key_id": self.keys.current_id}
            self.conn.execute(update(audit).where(audit.c.pk == e["pk"]).values(**values))
            prev = digest
        n = len(entries)
        self.conn.execute(_UPDATE_HEAD, {"chain_key": chain, "head_n": n, "head_hash": prev})
        self._heads[chain] = (n, prev)
        self.conn.execute(delete(audit_legacy).where(audit_legacy.c.chain == chain))
        old_head = entries[-1]["hash"] if entries else GENESIS
        self.append_audit(
            chain,
            actor="system",
            action="audit.migrate",
            detail={"entries": n, "unkeyed": len(legacy), "sha256_head": old_head, "key": self.keys.current_id},
        )
        return None


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        return escape_controls(value)
    if isinstance(value, dict):
        return {escape_controls(str(k)): _printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return value
