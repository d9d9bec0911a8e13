"""The API end to end over a real socket: `runbook serve` as a process, accounts made with
`runbook users`, a lockdown, check-offs by a team lead, progress in the API and in the SSE
stream; the remote CLI printing what the local one prints; idempotent bulk check-offs; bad
input answered with the one error shape and nothing changed."""

from __future__ import annotations

import json
import os
import subprocess
import threading

import pytest
import requests

from flows.lifecycle import Engine
from flows.store import Store
from tests.conftest import LAB
from tests.support.forecasts import forecast_after_change
from tests.support.processes import RUNBOOK, Serve, wait_for


def sse_reader(url: str, token: str, into: list, stop: threading.Event) -> threading.Thread:
    def read() -> None:
        with requests.get(url, headers={"Authorization": f"Bearer {token}"}, stream=True, timeout=(5, 60)) as r:
            event: dict = {}
            for line in r.iter_lines(decode_unicode=True):
                if stop.is_set():
                    return
                if line.startswith("id: "):
                    event["id"] = int(line[4:])
                elif line.startswith("event: "):
                    event["event"] = line[7:]
                elif line.startswith("data: "):
                    event["data"] = json.loads(line[6:])
                elif line == "" and event:
                    into.append(event)
                    event = {}

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def served(tmp_path):
    env = {
        "RUNBOOK_HOME": str(tmp_path / "home"),
        "RUNBOOK_LIBRARY": str(LAB / "library"),
        "RUNBOOK_SITES": str(LAB / "sites"),
    }
    serve = Serve(env, tmp_path / "serve.log", "--no-runner").start()

    def cli(*args: str, token: str | None = None, remote: bool = False) -> subprocess.CompletedProcess:
        extra = {"RUNBOOK_URL": f"http://127.0.0.1:{serve.port}", "RUNBOOK_TOKEN": token or ""} if remote else {}
        return subprocess.run(
            [RUNBOOK, *args], env={**os.environ, **env, **extra}, capture_output=True, text=True, timeout=120
        )

    try:
        yield serve, cli, tmp_path / "home"
    finally:
        serve.stop()


def test_a_lockdown_worked_by_a_lead_over_the_api_shows_in_the_api_and_the_event_stream(served):
    serve, cli, home = served
    url = f"http://127.0.0.1:{serve.port}"
    admin = (home / "admin.token").read_text().strip()
    assert oct((home / "admin.token").stat().st_mode & 0o777) == "0o600"
    assert (home.parent / "serve.log").read_text().count(admin) == 1, "printed once, on the first start (docs/api.md)"
    manager = cli("users", "add", "maria", "--role", "manager").stdout.strip()
    lead = cli("users", "add", "lena", "--role", "team_lead", "--team", "lab/it", "--staff", "L0001").stdout.strip()
    viewer = cli("users", "add", "vic", "--role", "viewer").stdout.strip()
    assert manager.startswith("rbt_") and len(manager) >= 32 and lead != manager
    listed = json.loads(cli("users", "list", "--format", "json").stdout)["accounts"]
    assert [a["name"] for a in listed] == ["admin", "maria", "lena", "vic"] and "rbt_" not in json.dumps(listed)
    as_ = {
        who: {"Authorization": f"Bearer {t}"}
        for who, t in (("manager", manager), ("lead", lead), ("viewer", viewer), ("admin", admin))
    }

    r = requests.post(f"{url}/api/sites/lab/lockdown", json={}, headers=as_["manager"], timeout=30)
    assert r.status_code == 201
    (run,) = [x["id"] for x in r.json()["runs"] if x["runbook"] == "human_response"]
    again = requests.post(f"{url}/api/sites/lab/lockdown", json={}, headers=as_["manager"], timeout=30)
    assert again.status_code == 200 and run in [x["id"] for x in again.json()["runs"]]

    events: list = []
    stop = threading.Event()
    reader = sse_reader(f"{url}/api/runs/{run}/events", viewer, events, stop)
    try:
        assert (
            requests.post(
                f"{url}/api/runs/{run}/tasks/declare/approve", json={}, headers=as_["manager"], timeout=30
            ).status_code
            == 200
        )
        mine = requests.get(
            f"{url}/api/runs/{run}/tasks", params={"mine": "true", "state": "waiting"}, headers=as_["lead"], timeout=30
        ).json()["tasks"]
        assert [t["id"] for t in mine] == ["prepare"]
        done = requests.post(
            f"{url}/api/runs/{run}/tasks/prepare/complete",
            json={"fields": {"ticket": "CHG-42"}, "note": "spares ready"},
            headers=as_["lead"],
            timeout=30,
        )
        assert done.status_code == 200 and done.json()["task"]["state"] == "done"
        wait_for(
            lambda: any(
                e["event"] == "task.assigned" and e["data"].get("task", "").startswith("verify:") for e in events
            ),
            30,
            what="the verify tasks in the event stream",
        )
    finally:
        stop.set()
    progress = requests.get(f"{url}/api/runs/{run}", headers=as_["viewer"], timeout=30).json()
    assert progress["counts"]["done"] == 2 and progress["state"] == "running"
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids), "ids increase"
    names = [(e["event"], e["data"].get("task")) for e in events]
    order = [
        ("run.started", None),
        ("approval.requested", "declare"),
        ("task.done", "declare"),
        ("task.assigned", "prepare"),
        ("task.done", "prepare"),
    ]
    positions = [names.index(x) for x in order]
    assert positions == sorted(positions), names
    assert all(e["data"]["run"] == run for e in events)
    assert events[-1]["data"]["counts"]["done"] == 2
    # Reconnecting with Last-Event-ID gets only what came after.
    with requests.get(
        f"{url}/api/runs/{run}/events",
        headers={**as_["viewer"], "Last-Event-ID": str(ids[2])},
        stream=True,
        timeout=(5, 10),
    ) as r:
        first = next(line for line in r.iter_lines(decode_unicode=True) if line.startswith("id: "))
    assert int(first[4:]) == ids[3]
    audit = requests.get(f"{url}/api/runs/{run}/audit", headers=as_["viewer"], timeout=30).json()
    assert audit["verified"] and [e["actor"] for e in audit["entries"] if e["action"] == "task.complete"] == ["lena"]
    reader.join(5)


def test_the_remote_cli_prints_what_the_local_cli_prints(served):
    serve, cli, home = served
    manager = cli("users", "add", "maria", "--role", "manager").stdout.strip()
    lead = cli("users", "add", "lena", "--role", "team_lead", "--team", "lab/it").stdout.strip()
    started = cli("start", "human_response", "--site", "lab", token=manager, remote=True)
    assert started.returncode == 0, started.stderr
    run = started.stdout.strip()
    assert cli("approve", run, "declare", token=manager, remote=True).returncode == 0
    refused = cli("cancel", run, "--reason", "not mine to cancel", token=lead, remote=True)
    assert refused.returncode == 1 and "a team_lead account cannot do this" in refused.stderr
    done = cli("done", run, "prepare", "--field", "ticket=CHG-7", token=lead, remote=True)
    assert done.returncode == 0, done.stderr
    store = Store(f"sqlite:///{home / 'runbook.db'}")
    try:  # the serving process's forecaster catches up with the check-off: both reads see its forecast
        forecast_after_change(store, run, lambda: Engine(store).run(run)["objectives"])
    finally:
        store.dispose()
    for args in (
        ["status", run, "--format", "json"],
        ["tasks", run, "--format", "json"],
        ["status", run],
        ["tasks", run, "--team", "it"],
        ["audit", run, "--verify"],
        ["pools", "lab", "--format", "json"],
    ):
        remote, local = cli(*args, token=lead, remote=True), cli(*args)
        if args[0] == "status" and "json" in args:  # the forecast is of the moment it is read
            remote.stdout, local.stdout = _without_forecast(remote.stdout), _without_forecast(local.stdout)
        assert (remote.returncode, remote.stdout) == (local.returncode, local.stdout), args
    assert cli("status", run, token="rbt_wrong", remote=True).returncode == 1
    assert (
        "--as works on the local store only" in cli("done", run, "x", "--as", "L0001", token=lead, remote=True).stderr
    )


def test_the_same_bulk_check_off_twice_with_one_key_changes_nothing_the_second_time(api):
    run = api.start("human_response")
    assert api.call("manager", "POST", f"/api/runs/{run}/tasks/declare/approve", json={}).status_code == 200
    assert (
        api.call(
            "lead_it", "POST", f"/api/runs/{run}/tasks/prepare/complete", json={"fields": {"ticket": "CHG-1"}}
        ).status_code
        == 200
    )
    verify = [
        t["id"] for t in api.call("viewer", "GET", f"/api/runs/{run}/tasks", params={"step": "verify"}).json()["tasks"]
    ]
    body = {"tasks": verify + ["close"], "note": "all green", "reason": "lead covers", "fields": {"healthy": True}}
    headers = {"Idempotency-Key": "phone-retry-1"}
    first = api.call("manager", "POST", f"/api/runs/{run}/tasks:complete", json=body, headers=headers)
    with api.store.read() as r:
        audit_rows, checkoffs = len(r.audit(run)), len(r.checkoffs(run))
    second = api.call("manager", "POST", f"/api/runs/{run}/tasks:complete", json=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert [x["status"] for x in first.json()["results"]][: len(verify)] == [200] * len(verify)
    with api.store.read() as r:
        assert (len(r.audit(run)), len(r.checkoffs(run))) == (audit_rows, checkoffs), "nothing changed"
    third = api.call("manager", "POST", f"/api/runs/{run}/tasks:complete", json=body)
    assert {x["status"] for x in third.json()["results"][: len(verify)]} == {409}, "without the key: conflicts"


def test_a_repeated_cancel_or_skip_with_one_key_gets_the_first_answer_and_changes_nothing(api):
    run = api.start()
    skip = {"Idempotency-Key": "skip-once"}
    skipped = [
        api.call("manager", "POST", f"/api/runs/{run}/tasks/fix_it/skip", json={"reason": "done by hand"}, headers=skip)
        for _ in range(2)
    ]
    assert [r.status_code for r in skipped] == [200, 200] and skipped[0].json() == skipped[1].json()
    cancel = {"Idempotency-Key": "cancel-once"}
    first = api.call("manager", "POST", f"/api/runs/{run}/cancel", json={"reason": "drill over"}, headers=cancel)
    with api.store.read() as r:
        audit_rows = len(r.audit(run))
    again = api.call("manager", "POST", f"/api/runs/{run}/cancel", json={"reason": "drill over"}, headers=cancel)
    assert first.status_code == again.status_code == 200, again.text
    assert first.json()["state"] == "cancelled" and again.json() == first.json(), "the run, not null"
    with api.store.read() as r:
        assert len(r.audit(run)) == audit_rows, "nothing changed"
    other = api.call("manager", "POST", f"/api/runs/{run}/cancel", json={"reason": "another"}, headers=cancel)
    assert other.status_code == 409 and other.json()["error"]["code"] == "conflict"


BAD = [
    (
        "malformed JSON",
        "POST",
        "/api/runs/{run}/tasks/fix_it/complete",
        {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
        422,
    ),
    ("unknown field", "POST", "/api/runs/{run}/tasks/fix_it/complete", {"json": {"nte": "typo"}}, 422),
    (
        "10 MB body",
        "POST",
        "/api/runs/{run}/tasks/fix_it/complete",
        {"data": b"{" + b" " * (10 * 1024 * 1024) + b"}", "headers": {"Content-Type": "application/json"}},
        413,
    ),
    ("dot-dot task", "POST", "/api/runs/{run}/tasks/../complete", {"json": {}}, 404),
    ("encoded dot-dot", "POST", "/api/runs/{run}/tasks/%2e%2e/complete", {"json": {}}, 404),
    ("encoded slash", "POST", "/api/runs/{run}/tasks/fix_it%2F..%2F..%2Fcancel/complete", {"json": {}}, 404),
    ("unknown run", "POST", "/api/runs/r00000000/tasks/fix_it/complete", {"json": {}}, 404),
    ("unknown task", "POST", "/api/runs/{run}/tasks/nope/complete", {"json": {}}, 404),
    ("unknown site", "POST", "/api/sites/atlantis/lockdown", {"json": {}}, 404),
    ("a path as runbook", "POST", "/api/runs", {"json": {"runbook": "/etc/passwd", "site": "lab"}}, 422),
    ("unknown route", "GET", "/api/nothing", {}, 404),
    ("wrong type", "POST", "/api/runs/{run}/tasks:complete", {"json": {"tasks": "fix_it"}}, 422),
]


@pytest.mark.parametrize("what,method,path,kw,status", BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_the_one_error_shape_and_changes_nothing(api, what, method, path, kw, status):
    run = api.start()
    with api.store.read() as r:
        before = ([(t["id"], t["state"]) for t in r.tasks(run)], len(r.audit(run)), len(r.runs()))
    response = api.call("manager", method, path.format(run=run), **kw)
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == {404: "not_found", 413: "invalid", 422: "invalid"}[status]
    with api.store.read() as r:
        assert ([(t["id"], t["state"]) for t in r.tasks(run)], len(r.audit(run)), len(r.runs())) == before


ROLL = """id: roll_api
name: Roll call over HTTP
steps:
  - id: roll
    kind: muster
    owner: team:operations
    audience: "${{ site.staff }}"
    question: "Where can you work tomorrow?"
    options: {onsite: On site, home: From home, unavailable: Cannot work}
"""


def test_staff_answer_by_link_and_sms_and_a_lead_answers_for_their_team(api, tmp_path, monkeypatch):
    import os

    library = tmp_path / "library"
    (library / "roll_api.yaml").write_text(ROLL)
    run = api.start("roll_api")
    links = api.call("manager", "GET", f"/api/runs/{run}/muster/roll/links").json()
    assert api.call("lead_it", "GET", f"/api/runs/{run}/muster/roll/links").status_code == 403
    url = {x["person"]: x["url"] for x in links}
    token = url["L0002"].rsplit("/r/", 1)[1]
    page = requests.get(f"{api.url}/r/{token}", timeout=30)
    assert page.status_code == 200 and "Where can you work tomorrow?" in page.text and "2. From home" in page.text
    with api.store.read() as r:
        assert r.muster_answers(run, "roll") == [], "a GET (a link scanner) records nothing"
    answered = requests.post(f"{api.url}/r/{token}", data={"option": "home"}, timeout=30)
    assert answered.status_code == 200 and "Thank you" in answered.text and 'class="chosen"' in answered.text
    bad = requests.post(f"{api.url}/r/{token}", data={"option": "9"}, timeout=30)
    assert bad.status_code == 422 and "is not an answer" in bad.text
    forged = requests.post(f"{api.url}/r/forged-token-0000000000000000", data={"option": "home"}, timeout=30)
    assert forged.status_code == 404 and "not valid" in forged.text
    sms = api.call("gateway", "POST", "/api/inbound/sms", json={"from": "+44 1000 000002", "text": "3"})
    assert sms.status_code == 202, sms.text  # L0002 changes their answer by SMS
    # The gateway learns nothing about a number: unknown, not a number, no option — the same answer.
    for sender, text in (("+44 9999 999999", "1"), ("nope", "1"), ("+44 1000 000002", "²")):
        other = api.call("gateway", "POST", "/api/inbound/sms", json={"from": sender, "text": text})
        assert (other.status_code, other.json()) == (sms.status_code, sms.json())
    assert (
        api.call("viewer", "POST", "/api/inbound/sms", json={"from": "+441000000002", "text": "1"}).status_code == 403
    )
    lead = api.call(
        "lead_it", "POST", f"/api/runs/{run}/muster/roll/answers", json={"person": "L0003", "option": "onsite"}
    )
    assert lead.status_code == 200 and lead.json()["counts"] == {"onsite": 1, "home": 0, "unavailable": 1}
    other = api.call(
        "lead_it", "POST", f"/api/runs/{run}/muster/roll/answers", json={"person": "L0011", "option": "home"}
    )
    assert other.status_code == 403
    with api.store.read() as r:
        vias = [(a["person_id"], a["option"], a["via"]) for a in r.muster_answers(run, "roll", current_only=False)]
    assert vias == [("L0002", "home", "link"), ("L0002", "unavailable", "sms"), ("L0003", "onsite", "lead")]
    assert os.environ["RUNBOOK_LIBRARY"].startswith(str(library))


def _without_forecast(text: str) -> str:
    """The forecast (and the state it gives) is the one stored at the moment of the read: the
    serving app's forecaster may store a newer one between the remote and the local read."""
    data = json.loads(text)
    for o in data["objectives"]:
        assert o["forecast"] is None or set(o["forecast"]) == {"p50", "p90", "probability", "as_of", "computed_at"}
        o.pop("forecast")
        o.pop("state")
    return json.dumps(data)
