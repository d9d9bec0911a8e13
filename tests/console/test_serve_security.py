"""`runbook serve` as a process: X-Forwarded-For is not believed unless RUNBOOK_TRUSTED_PROXIES
names the proxy (the audited address is the real one), and the audit chains' heads are
checkpointed to the witness when it stops."""

from __future__ import annotations

import json

import requests

from flows.store import Store, runbook_home
from tests.support.processes import Serve


def denials(store: Store) -> list[dict]:
    with store.read() as r:
        return [e for e in r.audit("access") if e["action"] == "access.denied"]


def witnessed(path, chain: str) -> int:
    if not path.exists():
        return 0
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return max((x["n"] for x in lines if x.get("chain") == chain), default=0)


def test_forwarded_addresses_are_not_believed_and_the_shutdown_checkpoints(lab_env, tmp_path):
    env = {"RUNBOOK_AUDIT_CHECKPOINT_SECONDS": "3600"}  # only the shutdown checkpoint, in this test
    serve = Serve({**env, "RUNBOOK_HOME": str(runbook_home())}, tmp_path / "serve.log", "--no-runner").start()
    try:
        r = requests.get(
            f"http://127.0.0.1:{serve.port}/api/runs",
            headers={"Authorization": "Bearer not-a-token", "X-Forwarded-For": "6.6.6.6"},
            timeout=10,
        )
        assert r.status_code == 401
    finally:
        serve.stop()
    store = Store()
    try:
        rows = denials(store)
        assert [row["detail"]["client"] for row in rows] == ["127.0.0.1"]
        with store.read() as r:
            head = r.audit_head("access")
    finally:
        store.dispose()
    assert witnessed(runbook_home() / "audit.witness", "access") == head["n"]
