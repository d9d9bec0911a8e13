"""The SQL of Idempotency-Key records (mixins of Reader and Tx): a key's first answer, kept
in the transaction of the change it answers (flows/idempotency.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select

from .base import Queries, json_ready, utcnow
from .schema import idempotency


class IdempotencyReads(Queries):
    def idempotent(self, key: str) -> dict[str, Any] | None:
        return self.fetch_one(select(idempotency).where(idempotency.c.key == key))


class IdempotencyWrites(Queries):
    def save_idempotent(self, key: str, fingerprint: str, response: Any) -> None:
        self.conn.execute(
            insert(idempotency).values(key=key, fingerprint=fingerprint, response=json_ready(response), at=utcnow())
        )
