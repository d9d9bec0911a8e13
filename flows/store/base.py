"""What every part of the store shares: UTC now, JSON-safe values, insert-or-ignore."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any


def json_ready(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str)) if value is not None else None


def insert_ignore(dialect: str, table):
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


def utcnow() -> datetime:
    return datetime.now(UTC)
