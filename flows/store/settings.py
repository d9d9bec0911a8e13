"""Settings (mixins of Reader and Tx): named values every process of a deployment shares,
written by `runbook serve` at its start (the public base URL), read wherever a link is rendered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select

from .base import Queries
from .schema import settings


class SettingReads(Queries):
    def setting(self, name: str) -> str | None:
        row = self.conn.execute(select(settings.c.value).where(settings.c.name == name)).first()
        return None if row is None else str(row[0])


class SettingWrites(Queries):
    _kept: dict[tuple[str, str], Any]

    def put_setting(self, name: str, value: str, now: datetime) -> None:
        self._kept.pop(("setting", name), None)
        self.conn.execute(delete(settings).where(settings.c.name == name))
        self.conn.execute(insert(settings).values(name=name, value=value, updated_at=now))
