"""The SQL of Idempotency-Key records (mixins of Reader and Tx): a key's first answer kept
(flows/idempotency.py), or reserved before acting and settled or dropped after (the API's
generic keys)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from .base import Queries, insert_ignore, json_ready, utcnow
from .schema import idempotency


class IdempotencyReads(Queries):
    def idempotent(self, key: str) -> dict[str, Any] | None:
        return self.fetch_one(select(idempotency).where(idempotency.c.key == key))


class IdempotencyWrites(Queries):
    def claim_idempotent(self, key: str, fingerprint: str, at: datetime) -> bool:
        """Reserve a key before acting (response pending); False when it is taken."""
        stmt = insert_ignore(self.dialect, idempotency).values(
            key=key, fingerprint=fingerprint, response={"_pending": True}, at=at
        )
        return self.conn.execute(stmt).rowcount == 1

    def settle_idempotent(self, key: str, response: Any) -> None:
        self.conn.execute(update(idempotency).where(idempotency.c.key == key).values(response=json_ready(response)))

    def drop_idempotent(self, key: str) -> None:
        self.conn.execute(idempotency.delete().where(idempotency.c.key == key))

    def save_idempotent(self, key: str, fingerprint: str, response: Any) -> None:
        self.conn.execute(
            insert(idempotency).values(key=key, fingerprint=fingerprint, response=json_ready(response), at=utcnow())
        )
