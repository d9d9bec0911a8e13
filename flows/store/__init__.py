"""Store: the engine's source of truth (SQLAlchemy 2 Core) — the only package that writes SQL.
This package's face: the names the rest of the code imports (`from flows.store import Store`).

`engine.py` opens it (SQLite in WAL mode under `$RUNBOOK_HOME`, default `./.runbook`, or
PostgreSQL when `RUNBOOK_DATABASE_URL` names one) and gives `Store.transaction()` and
`Store.read()`; `tx.py` composes `Reader` and `Tx` from the mixins of `runs.py`,
`idempotency.py`, `outbox.py`, `people.py`, `board.py`, `stats.py` and `leases.py` (tables in
`schema.py`, shared helpers in `base.py`). Every write happens in `Store.transaction()`, which on
SQLite begins IMMEDIATE (one writer, no lock-upgrade deadlocks) and on PostgreSQL locks the
audit chain's head row, so the transitions of one run are serialised and each is one
transaction with its audit row.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from .base import utcnow
from .counts import done_minute
from .engine import Store, database_url, runbook_home
from .leases import PENDING
from .schema import metadata
from .tx import Reader, Tx

__all__ = [
    "Store",
    "Reader",
    "Tx",
    "IntegrityError",
    "PENDING",
    "runbook_home",
    "database_url",
    "metadata",
    "utcnow",
    "done_minute",
]
