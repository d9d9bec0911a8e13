"""Roll calls over HTTP that a manager can trust: leads answer for the people they phone (with a
note, their own teams only, refusals audited), read their own teams' call list with numbers, a
manager closes the roll call once with a reason, the headcount counts what was answered."""

from __future__ import annotations

import requests

from .test_api import ROLL


def start_roll(api, tmp_path) -> str:
    # and a task that keeps the run going after the roll call
    extra = "  - {id: vanguard, kind: manual, owner: team:operations, needs: [roll]}\n"
    (tmp_path / "library" / "roll_api.yaml").write_text(ROLL + extra)
    return api.start("roll_api")


def answers_path(run: str) -> str:
    return f"/api/runs/{run}/muster/roll/answers"


def test_a_lead_records_answers_for_their_own_team_with_a_note(api, tmp_path):
    run = start_roll(api, tmp_path)
    ok = api.call(
        "lead_it", "POST", answers_path(run), json={"person": "L0003", "option": "home", "note": "by phone, 09:10"}
    )
    assert ok.status_code == 200, ok.text
    denials = len(api.denials())
    other = api.call("lead_it", "POST", answers_path(run), json={"person": "L0011", "option": "home"})
    assert other.status_code == 403 and "does not lead operations" in other.json()["error"]["message"]
    assert len(api.denials()) == denials + 1, "the refusal is in the audit"
    assert (
        api.call("lead_it", "POST", answers_path(run), json={"person": "L0002", "option": "maybe"}).status_code == 422
    )
    assert api.call("lead_it", "POST", answers_path(run), json={"person": "Z0001", "option": "home"}).status_code == 404
    entry = [
        e
        for e in api.call("viewer", "GET", f"/api/runs/{run}/audit").json()["entries"]
        if e["action"] == "muster.answer"
    ]
    assert [(e["actor"], e["detail"]["person"], e["detail"]["option"], e["detail"]["note"]) for e in entry] == [
        ("lead_it", "L0003", "home", "by phone, 09:10")
    ]
    calls = api.call("lead_it", "GET", f"/api/runs/{run}/muster/roll/calls").json()
    assert [t["team"] for t in calls["teams"]] == ["it"], "a lead reads their own team's list only"
    assert {p["id"]: p["phone"] for p in calls["teams"][0]["calls"]} == {
        "L0001": "+441000000001",
        "L0002": "+441000000002",
    }
    assert [t["team"] for t in api.call("manager", "GET", f"/api/runs/{run}/muster/roll/calls").json()["teams"]] == [
        "it",
        "operations",
    ]
    assert api.call("viewer", "GET", f"/api/runs/{run}/muster/roll/calls").status_code == 403


def test_a_manager_closes_the_roll_call_once_with_a_reason_and_links_say_so(api, tmp_path):
    run = start_roll(api, tmp_path)
    close = f"/api/runs/{run}/muster/roll/close"
    links = {
        x["person"]: api.url + "/r/" + x["url"].rsplit("/r/", 1)[1]
        for x in api.call("manager", "GET", f"/api/runs/{run}/muster/roll/links").json()
    }
    assert api.call("lead_ops", "POST", close, json={"reason": "enough"}).status_code == 403
    no_reason = api.call("manager", "POST", close, json={})
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["error"]["message"]
    closed = api.call(
        "manager", "POST", close, json={"reason": "the rest are on leave"}, headers={"Idempotency-Key": "c1"}
    )
    assert closed.status_code == 200 and closed.json()["unaccounted"] == 6
    again = api.call(
        "manager", "POST", close, json={"reason": "the rest are on leave"}, headers={"Idempotency-Key": "c1"}
    )
    assert again.status_code == 200 and again.json() == closed.json(), "a repeated key gets the first answer"
    twice = api.call("manager", "POST", close, json={"reason": "again"})
    assert twice.status_code == 409 and "already closed" in twice.json()["error"]["message"]
    page = requests.get(links["L0011"], timeout=30)
    assert page.status_code == 200 and "The center closed this roll call" in page.text and "Di Ops" in page.text
    late = requests.post(links["L0011"], data={"option": "home"}, timeout=30)
    assert late.status_code == 409 and "closed by" in late.text
    assert (
        api.call("lead_ops", "POST", answers_path(run), json={"person": "L0011", "option": "home"}).status_code == 409
    )


def test_the_headcount_counts_what_was_answered_by_team(api, tmp_path):
    run = start_roll(api, tmp_path)
    sent = {"L0001": "onsite", "L0002": "home", "L0010": "unavailable", "L0011": "home"}
    for person, option in sent.items():
        lead = "lead_it" if person in ("L0001", "L0002") else "lead_ops"
        assert api.call(lead, "POST", answers_path(run), json={"person": person, "option": option}).status_code == 200
    count = api.call("viewer", "GET", f"/api/runs/{run}/muster/roll/headcount").json()
    assert count == api.call("viewer", "GET", f"/api/runs/{run}/headcount").json(), "the first roll call by default"
    assert (count["asked"], count["answered"], count["unanswered"], count["late"]) == (6, 4, 2, 0)
    assert count["options"] == {"onsite": 1, "home": 2, "unavailable": 1}
    teams = {"L0001": "it", "L0002": "it", "L0010": "operations", "L0011": "operations"}
    for team in ("it", "operations"):
        mine = [o for p, o in sent.items() if teams[p] == team]
        assert count["by_team"][team]["options"] == {k: mine.count(k) for k in ("onsite", "home", "unavailable")}
    assert [p["id"] for p in count["unaccounted"]] == ["L0003", "L0020"], "cannot work is accounted for"
    assert api.call("viewer", "GET", f"/api/runs/{run}/muster/nope/headcount").status_code == 404
