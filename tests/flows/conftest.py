"""Store fixtures: every store test runs on SQLite (a temporary RUNBOOK_HOME) and on the
PostgreSQL of this machine (see pg_url in tests/conftest.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.conftest import LAB as HERE  # noqa: F401  (tests import HERE from here)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def store(request, lab_env):
    from flows.store import Store, metadata

    if request.param == "sqlite":
        s = Store()
    else:
        # Asked for here, not in the signature: the SQLite variant must not need PostgreSQL.
        s = Store(request.getfixturevalue("pg_url"))
        with s.engine.begin() as conn:  # each test starts empty
            conn.execute(text("TRUNCATE " + ", ".join(t.name for t in metadata.sorted_tables) + " CASCADE"))
    yield s
    s.dispose()


@pytest.fixture
def engine(store):
    from flows.lifecycle import Engine

    return Engine(store)
