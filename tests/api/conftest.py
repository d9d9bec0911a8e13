"""The API over a real socket: uvicorn serving `create_app` in a thread of the test process (so
tests can also look into the store), with one account per role."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest
import requests

from console import auth
from console.api import create_app
from flows.store import Store
from tests.conftest import LAB
from tests.support.processes import served_app

MATRIX_RUNBOOK = """id: matrix
name: Access matrix
steps:
  - {id: fix_it, kind: manual, owner: team:it, name: Fix it (IT)}
  - {id: fix_ops, kind: manual, owner: team:operations, name: Fix it (ops)}
  - {id: ok_it, kind: approval, owner: team:it, name: Approve (IT)}
  - {id: ok_ops, kind: approval, owner: team:operations, name: Approve (ops)}
  - {id: contact, kind: manual, owner: team:it, name: Call back, fields: {phone: {type: string}, email: {type: string}}}
  - {id: roll, kind: muster, owner: team:operations, audience: [L0002, L0011], question: Where?,
     options: {onsite: On site, home: From home}}
"""
ACCOUNTS = {
    "manager": ("manager", []),
    "lead_it": ("team_lead", ["lab/it"]),
    "lead_ops": ("team_lead", ["lab/operations"]),
    "viewer": ("viewer", []),
    "admin": ("admin", []),
    "gateway": ("gateway", []),
}


@dataclass
class Api:
    url: str
    store: Store
    tokens: dict[str, str] = field(default_factory=dict)

    def session(self, who: str | None) -> requests.Session:
        s = requests.Session()
        if who is not None:
            s.headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return s

    def call(self, who: str | None, method: str, path: str, **kw) -> requests.Response:
        return self.session(who).request(method, self.url + path, timeout=30, **kw)

    def start(self, runbook: str = "matrix") -> str:
        r = self.call("manager", "POST", "/api/runs", json={"runbook": runbook, "site": "lab"})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def denials(self) -> list[dict]:
        with self.store.read() as r:
            return [e for e in r.audit(auth.AUDIT_CHAIN) if e["action"] == "access.denied"]


@pytest.fixture
def api(tmp_path, monkeypatch):
    library = tmp_path / "library"
    library.mkdir()
    (library / "matrix.yaml").write_text(MATRIX_RUNBOOK)
    monkeypatch.setenv("RUNBOOK_LIBRARY", os.pathsep.join([str(library), str(LAB / "library")]))
    monkeypatch.setenv("RUNBOOK_SITES", str(LAB / "sites"))
    monkeypatch.setenv("RUNBOOK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RUNBOOK_DENIALS_PER_MINUTE", "100000")  # the matrix counts every refusal's row
    store = Store()
    try:
        with served_app(create_app(store), lifespan="on") as url:
            api = Api(url, store)
            for name, (role, teams) in ACCOUNTS.items():
                api.tokens[name] = auth.add_account(store, name, role, teams, by="test")
            api.tokens["revoked"] = auth.add_account(store, "revoked", "manager", by="test")
            auth.revoke_account(store, "revoked", by="test")
            yield api
    finally:
        store.dispose()
