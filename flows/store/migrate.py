"""Store migrations: bring a database to the newest schema with alembic (run at every open).

Several processes may open a fresh database at once (workers, API replicas): on PostgreSQL an
advisory lock lets one migrate while the others wait; SQLite's IMMEDIATE transactions do the
same.
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine

HERE = Path(__file__).parent
_LOCK_ID = 7_412_221  # any constant shared by every process of this app


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    return cfg


@functools.cache  # the migration scripts of an installed process do not change (25 ms a parse)
def head_revision() -> str:
    return ScriptDirectory.from_config(_config()).get_current_head()  # type: ignore[return-value]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    head = head_revision()
    if current_revision(engine) == head:
        return
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ID})
        cfg = _config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
