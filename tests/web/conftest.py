"""The dashboard over a real socket: uvicorn serving `create_app` in a thread, a site and a
runbook whose every name is hostile markup (tests/web/sites/evil, tests/web/library), one
account per role, and a run with 12 people answered "home" (12 training tasks for IT)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from console import auth
from console.api import create_app
from flows.actors import local_operator
from flows.lifecycle import Engine
from flows.store import Store
from tests.conftest import ARTIFACTS  # noqa: F401  (the browser tests' screenshots)
from tests.support.processes import served_app

HERE = Path(__file__).parent
HOME = [f"E{i:04d}" for i in range(3, 15)]  # 12 answer "home"
ACCOUNTS = {
    "manager": ("manager", [], None),
    "lead_it": ("team_lead", ["evil/it"], "E0001"),
    "lead_ops": ("team_lead", ["evil/operations"], "E0002"),
    "viewer": ("viewer", [], None),
}


@dataclass
class Dash:
    url: str
    store: Store
    engine: Engine
    run: str
    tokens: dict[str, str] = field(default_factory=dict)

    def login(self, who: str) -> tuple[requests.Session, str]:
        """A browser-like session: the login form, then the session's CSRF token."""
        s = requests.Session()
        r = s.post(self.url + "/login", data={"token": self.tokens[who], "next": "/"}, timeout=30)
        assert r.status_code == 200 and r.url == self.url + "/", (r.status_code, r.url)
        return s, s.get(self.url + "/api/me", timeout=30).json()["csrf"]

    def task(self, task_id: str) -> dict:
        with self.store.read() as r:
            return r.task(self.run, task_id)

    def denials(self) -> int:
        with self.store.read() as r:
            return sum(e["action"] == "access.denied" for e in r.audit(auth.AUDIT_CHAIN))


@pytest.fixture
def dash(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNBOOK_LIBRARY", str(HERE / "library"))
    monkeypatch.setenv("RUNBOOK_SITES", str(HERE / "sites"))
    monkeypatch.setenv("RUNBOOK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RUNBOOK_DATABASE_URL", raising=False)
    store = Store()
    engine = Engine(store)
    try:
        with served_app(create_app(store), timeout_graceful_shutdown=5) as url:
            run = engine.start("webtest", "evil", local_operator())["id"]
            for person in HOME:
                engine.answer(run, "roll", person, "home", local_operator(), via="lead")
            for person in ("E0015", "E0016"):
                engine.answer(run, "roll", person, "onsite", local_operator(), via="lead")
            dash = Dash(url, store, engine, run)
            for name, (role, teams, staff) in ACCOUNTS.items():
                dash.tokens[name] = auth.add_account(store, name, role, teams, staff, by="test")
            yield dash
    finally:
        store.dispose()
