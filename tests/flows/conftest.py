"""Store fixtures: every store test runs on SQLite (a temporary RUNBOOK_HOME) and on the
PostgreSQL of this machine (a database of its own, created for the session and dropped after)."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

HERE = Path(__file__).parent
PG_ADMIN_URL = os.environ.get("RUNBOOK_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session")
def pg_url():
    """A fresh PostgreSQL database for this test session; the server must be running."""
    name = f"runbook_test_{secrets.token_hex(4)}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    yield url
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture
def lab_env(monkeypatch, tmp_path):
    """The test library and the lab site on the search paths; a clean RUNBOOK_HOME."""
    monkeypatch.setenv("RUNBOOK_LIBRARY", str(HERE / "library"))
    monkeypatch.setenv("RUNBOOK_SITES", str(HERE / "sites"))
    monkeypatch.setenv("RUNBOOK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RUNBOOK_DATABASE_URL", raising=False)
    monkeypatch.delenv("RUNBOOK_TIME_SCALE", raising=False)
    return tmp_path


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, lab_env, pg_url):
    from flows.store import Store, metadata
    if request.param == "sqlite":
        s = Store()
    else:
        s = Store(pg_url)
        with s.engine.begin() as conn:  # each test starts empty
            conn.execute(text("TRUNCATE " + ", ".join(t.name for t in metadata.sorted_tables) + " CASCADE"))
    yield s
    s.dispose()


@pytest.fixture
def engine(store):
    from flows.lifecycle import Engine
    return Engine(store)


@pytest.fixture
def operator():
    from flows.actors import local_operator
    return local_operator()
