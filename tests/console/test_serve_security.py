"""`runbook serve` as a process: X-Forwarded-For is not believed unless RUNBOOK_TRUSTED_PROXIES
names the proxy (the audited address is the real one), the audit chains' heads are
checkpointed to the witness when it stops, and no token or link secret reaches its log."""

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


ROLL = """id: roll_log
name: Roll call whose links must stay out of the log
steps:
  - id: roll
    kind: muster
    owner: team:operations
    audience: "${{ site.staff }}"
    question: Where can you work?
    options: {onsite: On site, home: From home}
"""


def test_no_token_or_personal_link_reaches_the_server_log(lab_env, tmp_path, monkeypatch):
    """A serve's log (stdout and stderr) after sign-ins good and bad, bearer calls, a roll call's
    links answered well and badly, and a forged link: the tokens and the links' secrets appear
    nowhere — only the first admin token, printed once on the first start (docs/api.md)."""
    import subprocess

    from tests.support.processes import RUNBOOK

    library = tmp_path / "library"
    library.mkdir()
    (library / "roll_log.yaml").write_text(ROLL)
    monkeypatch.setenv("RUNBOOK_LIBRARY", str(library))
    home = runbook_home()
    log = tmp_path / "serve.log"
    serve = Serve({"RUNBOOK_HOME": str(home)}, log, "--no-runner").start()  # prints the first admin token
    manager = subprocess.run(
        [RUNBOOK, "users", "add", "maria", "--role", "manager"], capture_output=True, text=True, check=True
    ).stdout.strip()
    url = f"http://127.0.0.1:{serve.port}"
    auth = {"Authorization": f"Bearer {manager}"}
    try:
        assert requests.post(f"{url}/login", json={"token": manager}, timeout=10).status_code == 200
        assert requests.post(f"{url}/login", json={"token": manager[:-4] + "XXXX"}, timeout=10).status_code == 401
        run = requests.post(f"{url}/api/runs", json={"runbook": "roll_log", "site": "lab"}, headers=auth, timeout=30)
        assert run.status_code == 201, run.text
        links = requests.get(f"{url}/api/runs/{run.json()['id']}/muster/roll/links", headers=auth, timeout=10).json()
        secrets = [x["url"].rsplit("/r/", 1)[1] for x in links]
        assert requests.post(f"{url}/r/{secrets[0]}", data={"option": "home"}, timeout=10).status_code == 200
        assert requests.post(f"{url}/r/{secrets[1]}", data={"option": "9"}, timeout=10).status_code == 422
        assert requests.get(f"{url}/r/{secrets[2]}", timeout=10).status_code == 200
        forged = secrets[3][:-3] + "zzz"
        assert requests.post(f"{url}/r/{forged}", data={"option": "home"}, timeout=10).status_code == 404
        assert (
            requests.get(f"{url}/api/runs", headers={"Authorization": f"Bearer {forged}"}, timeout=10).status_code
            == 401
        )
    finally:
        serve.stop()
    text = log.read_text(errors="replace")
    admin = (home / "admin.token").read_text().strip()
    assert text.count(admin) == 1, "the first admin token is printed once, on the first start"
    leaked = [s for s in [manager, manager[:-4] + "XXXX", *secrets, forged] if s in text or s[:16] in text]
    assert leaked == [], f"{len(leaked)} token(s) or link secret(s) in the server log"
