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
    try:
        assert_counts_kept(s)
    finally:
        s.dispose()


def assert_counts_kept(store) -> None:
    """The kept task counts (flows/store/counts.py) agree with the task rows: checked after every
    store test, so a task write that bypasses them fails the test that made it."""
    with store.engine.connect() as conn:
        counted = {
            (r, s, st): n
            for r, s, st, n in conn.execute(
                text("SELECT run_id, step_id, state, count(*) FROM tasks GROUP BY run_id, step_id, state")
            )
        }
        kept = {
            (r, s, st): n
            for r, s, st, n in conn.execute(text("SELECT run_id, step_id, state, n FROM task_counts WHERE n != 0"))
        }
    assert kept == counted, "task_counts drifted from the task rows"


@pytest.fixture
def engine(store):
    from flows.lifecycle import Engine

    return Engine(store)


@pytest.fixture
def forecaster(store):
    """The background forecaster of a serving process (flows/forecaster.py), on this store."""
    from flows.forecaster import Forecaster

    f = Forecaster(store).start()
    yield f
    f.stop()
