"""Shared fixtures: the shipped library and sites, the test lab, PostgreSQL, throwaway runbooks;
the markers `pg`, `prefect` and `browser` given to every test by the fixtures it uses."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest
import yaml
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "runbooks" / "library"
SITES = ROOT / "runbooks" / "sites"
LAB = ROOT / "tests" / "flows"  # test runbooks (library/) and the lab site (sites/lab)
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / ".artifacts" / "screenshots"  # screenshots of the browser tests (not tracked)
PG_ADMIN_URL = os.environ.get("RUNBOOK_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

# A test that uses one of these fixtures, directly or through other fixtures, needs what the
# marker names (see [tool.pytest.ini_options] markers), so `-m "not pg and not browser and not
# prefect"` runs on a machine without PostgreSQL, a Prefect server or Chromium. `browser` is the
# Playwright fixture below.
MARKER_OF_FIXTURE = {"pg_url": "pg", "prefect_api": "prefect", "browser": "browser"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            marker = MARKER_OF_FIXTURE.get(fixture)
            if marker is not None and item.get_closest_marker(marker) is None:
                item.add_marker(marker)


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium through Playwright (`apt-get install chromium`: scripts/test-env)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def write_runbook(tmp_path):
    """Write a runbook (a dict or YAML text) to a file and return its path."""

    def write(content, name: str = "rb.yaml") -> Path:
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
        return path

    return write


@pytest.fixture(scope="session")
def xian():
    from runbooks.sites import load_site

    return load_site(SITES / "xian")


@pytest.fixture(scope="session")
def beijing():
    from runbooks.sites import load_site

    return load_site(SITES / "beijing")


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
    monkeypatch.setenv("RUNBOOK_LIBRARY", str(LAB / "library"))
    monkeypatch.setenv("RUNBOOK_SITES", str(LAB / "sites"))
    monkeypatch.setenv("RUNBOOK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RUNBOOK_DATABASE_URL", raising=False)
    monkeypatch.delenv("RUNBOOK_TIME_SCALE", raising=False)
    return tmp_path


@pytest.fixture
def operator():
    from flows.actors import local_operator

    return local_operator()


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory):
    """One Prefect server for the whole test session, under a temporary PREFECT_HOME."""
    import socket

    from flows.prefect_api import PrefectServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from flows.prefect_api import QUIET

    for key, value in QUIET.items():
        os.environ[key] = value
    home = tmp_path_factory.mktemp("prefect")
    server = PrefectServer(home / "home", port, home / "server.log").start()
    old = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = server.url
    yield server.url
    if old is None:
        os.environ.pop("PREFECT_API_URL", None)
    else:
        os.environ["PREFECT_API_URL"] = old
    server.stop()


@pytest.fixture
def recorder():
    from tests.support.recorder import Recorder

    with Recorder() as r:
        yield r
