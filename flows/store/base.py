"""What every part of the store shares: the connection and row fetching (`Queries`, the base of
every mixin of Reader and Tx), UTC now, JSON-safe values, insert-or-ignore."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, Executable, Row, Table

from runbooks.texts import Texts


class Queries:
    """A connection and its rows as dicts; `dialect` is set on a writing transaction."""

    conn: Connection
    dialect: str

    def fetch_all(self, stmt: Executable, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """The rows of `stmt` (with `params` for a statement built once with bound parameters)."""
        return [row_of(r) for r in self.conn.execute(stmt, params)]

    def fetch_one(self, stmt: Executable, params: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        r = self.conn.execute(stmt, params).first()
        return row_of(r) if r is not None else None


def row_of(r: Row) -> dict[str, Any]:
    """A row as a dict; a task's bilingual `titles` make its `title` a Texts (English as a string,
    every language for the readers that pick theirs)."""
    d = dict(r._mapping)
    titles = d.get("titles")
    if titles and isinstance(titles, dict) and isinstance(titles.get("en"), str):
        d["title"] = Texts(titles)
    return d


def as_read(values: Mapping[str, Any]) -> dict[str, Any]:
    """Values just written, as a read of the row gives them back (datetimes in UTC)."""
    return {k: v.astimezone(UTC) if isinstance(v, datetime) else v for k, v in values.items()}


def json_ready(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str)) if value is not None else None


def insert_ignore(dialect: str, table: Table) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


def utcnow() -> datetime:
    return datetime.now(UTC)


# Values a row holds that are never changed in place: handed out as they are.
_IMMUTABLE = frozenset({str, int, float, bool, type(None), datetime, date, Decimal, bytes, UUID})


def copy_value(value: Any) -> Any:
    """A deep copy of a row as the store gives it (dicts and lists of JSON values, datetimes):
    its dicts and lists are new, so a caller may change any nested value without changing the
    transaction's kept copy; immutable values are shared. `copy.deepcopy` gives the same
    result, but copies each datetime through `__reduce_ex__` (a quarter of a check-off's time
    went there)."""
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    if kind is dict:
        return {k: copy_value(v) for k, v in value.items()}
    if kind is list:
        return [copy_value(v) for v in value]
    return copy.deepcopy(value)
