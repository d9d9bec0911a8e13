"""The metadata and column types the store's tables share (flows/store/schema.py and the table
modules it gathers): timestamps UTC, stored naive UTC, read back aware."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    DateTime,
    MetaData,
    String,
    TypeDecorator,
)

metadata = MetaData()


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out; stored naive UTC on every backend
    (SQLite keeps no zone, and one rule for both keeps comparisons honest)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware datetimes")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):  # pragma: no cover - SQLite without type detection
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)


Id = String(64)
TS = UTCDateTime()
