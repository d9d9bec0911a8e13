"""Access control, generated from the one policy table (console/auth.py POLICY): every role ×
every route × a task of the caller's own team / another team / no task. Each cell's expected
status follows from the table and the ownership rule; every refusal is in the audit."""

from __future__ import annotations

import requests

from console.auth import POLICY
from flows.actors import local_operator
from flows.lifecycle import Engine

from .conftest import ACCOUNTS

ROLES = [None, *ACCOUNTS]  # None: no credentials
TASK_ROUTES = {
    "complete": "fix",
    "approve": "ok",
    "reject": "ok",
    "complete_bulk": "fix",
    "skip": "fix",
    "retry": "fix",
    "reassign": "fix",
    "muster_answer": "fix",
}
# A team lead acts only on their teams' tasks, and answers a roll call only for their teams' people.
ACTING = {"complete", "approve", "reject", "complete_bulk", "muster_answer"}
PERSON = {"fix_it": "L0002", "fix_ops": "L0011"}  # a person of that team
SUCCESS = {
    "lockdown": 201,
    "start_run": 201,
    "add_task": 201,
    "run_update": 201,
    "standdown": 201,
    "inbound_sms": 202,  # the same whatever the number
    "shift_swap": 404,  # past the policy: the matrix run has no shifts
    "loan_request": 422,  # past the policy: the lab site has no service queue
    "loan_decide": 404,  # past the policy: no such loan
    "retry": 409,
    "restock": 404,
    "findings_add": 201,
    "findings_close": 404,
}  # restock: allowed, then the lab site has no pool "kits"; findings_close: no such finding
LEADS = {"lead_it": "it", "lead_ops": "operations"}
LOOPBACK_OPEN = {"metrics"}  # the matrix calls from 127.0.0.1 without a proxy: no token needed there


def request_for(route: str, run: str, task: str) -> tuple[str, str, dict | None]:
    r = f"/api/runs/{run}"
    return {
        "me": ("GET", "/api/me", None),
        "openapi": ("GET", "/api/openapi.json", None),
        "metrics": ("GET", "/metrics", None),
        "lockdown": ("POST", "/api/sites/lab/lockdown", {}),
        "standdown": ("POST", "/api/sites/lab/standdown", None),
        "start_run": ("POST", "/api/runs", {"runbook": "matrix", "site": "lab"}),
        "runs": ("GET", "/api/runs", None),
        "run": ("GET", r, None),
        "cancel": ("POST", f"{r}/cancel", {"reason": "matrix"}),
        "run_update": ("POST", f"{r}/updates", {"text": "matrix"}),
        "runbooks": ("GET", "/api/runbooks/matrix", None),
        "tasks": ("GET", f"{r}/tasks", None),
        "events": ("GET", f"{r}/events", None),
        "audit": ("GET", f"{r}/audit", None),
        "complete": ("POST", f"{r}/tasks/{task}/complete", {"reason": "matrix"}),
        "approve": ("POST", f"{r}/tasks/{task}/approve", {"reason": "matrix"}),
        "reject": ("POST", f"{r}/tasks/{task}/reject", {"reason": "matrix"}),
        "complete_bulk": ("POST", f"{r}/tasks:complete", {"tasks": [task], "reason": "matrix"}),
        "skip": ("POST", f"{r}/tasks/{task}/skip", {"reason": "matrix"}),
        "retry": ("POST", f"{r}/tasks/{task}/retry", {"reason": "matrix"}),
        "reassign": ("POST", f"{r}/tasks/{task}/reassign", {"reason": "matrix", "to": "team:operations"}),
        "add_task": ("POST", f"{r}/tasks", {"title": "Extra", "owner": "team:it", "reason": "matrix"}),
        "outbox": ("GET", "/api/outbox", None),
        "outbox_retry": ("POST", "/api/outbox/retry", {"reason": "matrix"}),
        "muster_links": ("GET", f"{r}/muster/roll/links", None),
        "muster_answer": ("POST", f"{r}/muster/roll/answers", {"person": PERSON.get(task, "L0002"), "option": "home"}),
        "muster_close": ("POST", f"{r}/muster/roll/close", {"reason": "matrix"}),
        "headcount": ("GET", f"{r}/muster/roll/headcount", None),
        "inbound_sms": ("POST", "/api/inbound/sms", {"from": "+441000000002", "text": "2"}),
        "overview": ("GET", "/api/overview", None),
        "board": ("GET", f"{r}/board", None),
        "my_tasks": ("GET", "/api/my/tasks", None),
        "task": ("GET", f"{r}/tasks/{task}", None),
        "calls": ("GET", f"{r}/muster/roll/calls", None),
        "restock": ("POST", "/api/sites/lab/pools/kits/restock", {"from_site": "lab", "count": 1, "reason": "matrix"}),
        "pools": ("GET", "/api/sites/lab/pools", None),
        "grants": ("GET", "/api/sites/lab/grants", None),
        "coverage": ("GET", "/api/sites/desk/coverage?hours=2", None),
        "shifts": ("GET", f"{r}/shifts", None),
        "loans": ("GET", "/api/loans", None),
        "loan_request": (
            "POST",
            "/api/loans",
            {
                "from_site": "desk",
                "to_site": "lab",
                "queue": "phones",
                "agents": 1,
                "start": "2030-01-07T09:00:00Z",
                "end": "2030-01-07T10:00:00Z",
                "reason": "matrix",
            },
        ),
        "loan_decide": ("POST", "/api/loans/l00000000/accept", {}),
        "shift_swap": ("POST", f"{r}/shifts/s00001/swap", {"to": "L0002", "reason": "matrix"}),
        "person": ("GET", f"{r}/people/L0002", None),
        "people": ("GET", f"{r}/people?q=engineer", None),
        "audit_csv": ("GET", f"/runs/{run}/audit.csv", None),
        "tasks_csv": ("GET", f"/runs/{run}/tasks.csv", None),
        "report": ("GET", f"{r}/report", None),
        "findings": ("GET", "/api/sites/lab/findings", None),
        "findings_add": (
            "POST",
            f"{r}/findings",
            {"observation": "o", "recommendation": "r", "owner": "team:it", "due": "14d"},
        ),
        "findings_close": ("POST", "/api/findings/f00000000/close", {"reason": "matrix"}),
    }[route]


def expected(who: str | None, route: str, team: str | None) -> int:
    if who is None:
        return 200 if route in LOOPBACK_OPEN else 401
    if ACCOUNTS[who][0] not in POLICY[route]:
        return 403
    if route in ACTING and who in LEADS and LEADS[who] != team:
        return 403
    return SUCCESS.get(route, 200)


def test_every_role_on_every_route_gets_what_the_policy_table_says(api):
    routes = sorted(POLICY)
    denials_before = len(api.denials())
    cells, mismatches, refused = 0, [], 0
    for route in routes:
        for who in ROLES:
            for team in ["it", "operations"] if route in TASK_ROUTES else [None]:
                if route == "standdown":
                    Engine(api.store).lockdown("lab", local_operator())
                run = api.start()
                task = f"{TASK_ROUTES.get(route, 'fix')}_{'it' if team == 'it' else 'ops'}"
                method, path, body = request_for(route, run, task)
                with api.session(who).request(
                    method, api.url + path, json=body, timeout=30, stream=route == "events"
                ) as response:
                    status = response.status_code
                    if status in (401, 403):
                        assert response.json()["error"]["code"] == ("unauthorized" if status == 401 else "forbidden")
                    if route == "complete_bulk" and status == 200:
                        status = response.json()["results"][0]["status"]  # one result per task
                    elif route == "lockdown" and status == 200:
                        status = 201  # already in lockdown: its runs (also a success)
                want = expected(who, route, team)
                refused += want in (401, 403)
                cells += 1
                if status != want:
                    mismatches.append(f"{who or 'anonymous'} {route} ({team or '-'}): got {status}, expected {want}")
                if route == "standdown" and status != 201:
                    Engine(api.store).standdown("lab", local_operator())
    assert mismatches == [], f"{len(mismatches)} of {cells} cells differ:\n" + "\n".join(mismatches)
    assert cells > 150
    assert len(api.denials()) - denials_before == refused, "every refusal is in the audit"


def test_a_lead_trying_every_task_of_another_team_gets_nothing(api):
    run = api.start()
    with api.store.read() as r:
        before = {t["id"]: t["state"] for t in r.tasks(run)}
    others = [t for t in api.call("viewer", "GET", f"/api/runs/{run}/tasks").json()["tasks"] if t["owner"] != "team:it"]
    assert others
    for task in others:
        for action in ("complete", "approve", "reject"):
            r = api.call("lead_it", "POST", f"/api/runs/{run}/tasks/{task['id']}/{action}", json={"reason": "mine now"})
            assert r.status_code == 403, (task["id"], action, r.text)
    bulk = api.call("lead_it", "POST", f"/api/runs/{run}/tasks:complete", json={"tasks": [t["id"] for t in others]})
    assert {x["status"] for x in bulk.json()["results"]} == {403}
    with api.store.read() as r:
        assert {t["id"]: t["state"] for t in r.tasks(run)} == before, "nothing changed"


def test_sessions_need_csrf_and_forged_or_revoked_credentials_are_refused(api):
    run = api.start()
    browser = requests.Session()
    login = browser.post(api.url + "/login", json={"token": api.tokens["lead_it"]}, timeout=30)
    assert login.status_code == 200
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    csrf = login.json()["csrf"]
    before = len(api.denials())
    posts = [
        f"/api/runs/{run}/tasks/fix_it/complete",
        f"/api/runs/{run}/tasks:complete",
        f"/api/runs/{run}/cancel",
        f"/api/runs/{run}/tasks/fix_it/skip",
        "/api/runs",
        "/api/sites/lab/lockdown",
        "/api/outbox/retry",
    ]
    for path in posts:
        assert browser.post(api.url + path, json={}, timeout=30).status_code == 403, path  # no CSRF token
        assert (
            browser.post(api.url + path, json={}, headers={"X-CSRF-Token": "forged"}, timeout=30).status_code == 403
        ), path
        forged = requests.post(api.url + path, json={}, cookies={"rb_session": "forged-session"}, timeout=30)
        assert forged.status_code == 401, path
        revoked = api.call("revoked", "POST", path, json={})
        assert revoked.status_code == 401, path
    assert len(api.denials()) - before == 4 * len(posts), "each refusal audited"
    ok = browser.post(
        api.url + f"/api/runs/{run}/tasks/fix_it/complete", json={}, headers={"X-CSRF-Token": csrf}, timeout=30
    )
    assert ok.status_code == 200 and ok.json()["task"]["state"] == "done"
    assert browser.get(api.url + "/api/me", timeout=30).json()["name"] == "lead_it"


def test_logins_are_rate_limited_and_openapi_needs_an_account(api):
    assert api.call(None, "GET", "/api/openapi.json").status_code == 401
    assert "/api/runs/{run}/tasks:complete" in api.call("viewer", "GET", "/api/openapi.json").json()["paths"]
    statuses = [
        requests.post(api.url + "/login", data={"token": f"guess{i}"}, timeout=30).status_code for i in range(12)
    ]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    assert (
        requests.post(
            api.url + "/login", data={"token": api.tokens["viewer"]}, timeout=30, allow_redirects=False
        ).status_code
        == 303
    ), "a good token is not locked out by others' guesses from the same address (issue 23)"


def test_contact_details_are_for_managers_only(api):
    run = api.start()
    r = api.call(
        "lead_it",
        "POST",
        f"/api/runs/{run}/tasks/contact/complete",
        json={"fields": {"phone": "+8613912345678", "email": "wang@example.com"}},
    )
    assert r.status_code == 200
    assert r.json()["task"]["outputs"]["phone"] == "+86*******5678" and r.json()["task"]["outputs"]["email"] == "***"
    manager = api.call("manager", "GET", f"/api/runs/{run}/tasks", params={"step": "contact"}).json()["tasks"][0]
    viewer = api.call("viewer", "GET", f"/api/runs/{run}/tasks", params={"step": "contact"}).json()["tasks"][0]
    assert manager["outputs"]["phone"] == "+8613912345678" and viewer["outputs"]["phone"] == "+86*******5678"
    assert viewer["outputs"]["email"] == "***"


def test_the_audit_masks_contact_details_too_and_a_revoked_name_can_be_reused(api):
    from console import auth

    run = api.start()
    assert (
        api.call(
            "lead_it", "POST", f"/api/runs/{run}/tasks/contact/complete", json={"fields": {"phone": "+8613912345678"}}
        ).status_code
        == 200
    )
    viewer = api.call("viewer", "GET", f"/api/runs/{run}/audit").json()
    assert "+8613912345678" not in str(viewer) and "+86*******5678" in str(viewer)
    assert "+8613912345678" in str(api.call("manager", "GET", f"/api/runs/{run}/audit").json())
    new = auth.add_account(api.store, "revoked", "viewer", by="test")  # the name of a revoked account
    assert api.call(None, "GET", "/api/me", headers={"Authorization": f"Bearer {new}"}).json()["name"] == "revoked"
    assert api.call("revoked", "GET", "/api/me").status_code == 401, "the old token stays dead"


def test_a_non_ascii_csrf_token_is_refused_not_a_server_error(api):
    browser = requests.Session()
    assert browser.post(api.url + "/login", json={"token": api.tokens["manager"]}, timeout=30).status_code == 200
    r = browser.post(
        api.url + "/api/outbox/retry", json={}, headers={"X-CSRF-Token": "tökén".encode().decode("latin-1")}, timeout=30
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_a_flood_of_refusals_writes_a_bounded_number_of_audit_rows():
    from console.auth import DenialBudget

    budget = DenialBudget(per_minute=5)
    taken = [budget.take("10.0.0.9") for _ in range(30)]
    assert taken[:5] == [0] * 5 and taken[5:] == [None] * 25, "5 rows, 25 left out"
    assert budget.take("10.0.0.8") == 0, "another client has its own budget"
    budget._seen["10.0.0.9"].clear()  # a minute later
    assert budget.take("10.0.0.9") == 25, "the next row says how many were left out"


def test_a_repeated_start_with_one_key_starts_one_run_even_when_sent_at_once(api):
    import concurrent.futures

    headers = {"Idempotency-Key": "start-once"}
    body = {"runbook": "matrix", "site": "lab"}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(
            pool.map(lambda _: api.call("manager", "POST", "/api/runs", json=body, headers=headers), range(8))
        )
    ok = [a.json()["id"] for a in answers if a.status_code == 201]
    busy = [a for a in answers if a.status_code == 409]
    assert len(set(ok)) == 1 and len(ok) + len(busy) == 8, [a.status_code for a in answers]
    assert all("in progress" in a.json()["error"]["message"] for a in busy)
    assert api.call("manager", "POST", "/api/runs", json=body, headers=headers).json()["id"] == ok[0]
    assert len([r for r in api.call("viewer", "GET", "/api/runs").json()["runs"] if r["runbook"] == "matrix"]) == 1
