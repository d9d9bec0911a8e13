"""Shift plans over a real socket: the run's shifts for a viewer, a person's page behind their
link (acknowledge, .ics), a manager's swap (a lead of another team refused), and the CLI through
the API printing the same list."""

from __future__ import annotations

import json
import re

import pytest
import requests
from typer.testing import CliRunner

from console.cli import app as cli_app
from flows.actors import local_operator
from flows.lifecycle import Engine
from tests.flows.test_shifts import rota, solve_pending


@pytest.fixture
def planned(api, tmp_path):
    text = rota().replace("days: 7", "days: 2").replace("time_limit: 8s", "time_limit: 3s")
    (tmp_path / "library" / "rota.yaml").write_text(text)
    r = api.call("manager", "POST", "/api/runs", json={"runbook": "rota", "site": "roster"})
    assert r.status_code == 201, r.text
    run = r.json()["id"]
    Engine(api.store).complete(run, "live", local_operator(), fields={"people": ["R0001", "R0002"]})
    solve_pending(api.store, run)
    return run


def free_at(shifts: list[dict], shift: dict) -> str:
    """Someone of the roster who works no shift overlapping `shift` (a short plan may use everyone)."""
    busy = {s["person"] for s in shifts if s["start"] < shift["end"] and shift["start"] < s["end"]}
    return next(p for p in (f"R{i:04d}" for i in range(1, 111)) if p not in busy)


def test_a_viewer_lists_the_shifts_and_a_person_acknowledges_by_their_link(api, planned):
    run = planned
    listed = api.call("viewer", "GET", f"/api/runs/{run}/shifts")
    assert listed.status_code == 200
    shifts = listed.json()
    assert shifts and set(shifts[0]) == {"id", "person", "queue", "start", "end", "acknowledged", "status", "step"}
    person = shifts[0]["person"]
    mine = api.call("viewer", "GET", f"/api/runs/{run}/shifts?person={person}").json()
    assert mine and {s["person"] for s in mine} == {person}
    with api.store.read() as r:
        token = r.shift_tokens(run)[person]
    page = api.call(None, "GET", f"/s/{token}")
    assert page.status_code == 200 and "Acknowledge" in page.text and person not in page.text.split("<body>")[0]
    assert "<script" not in page.text
    answered = api.call(None, "POST", f"/s/{token}", data={"answer": "ack"})
    assert answered.status_code == 200 and "Thank you" in answered.text
    assert all(s["acknowledged"] for s in api.call("viewer", "GET", f"/api/runs/{run}/shifts?person={person}").json())
    ics = api.call(None, "GET", f"/s/{token}.ics")
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    assert ics.text.count("BEGIN:VEVENT") == len(mine) and "STATUS:CONFIRMED" in ics.text
    story = api.call("viewer", "GET", f"/api/runs/{run}/people/{person}").json()
    assert [s["id"] for s in story["shifts"]] == [s["id"] for s in mine] and story["shifts"][0]["acknowledged"]
    assert api.call(None, "POST", f"/s/{token}", data={"answer": "maybe"}).status_code == 422
    assert api.call(None, "GET", "/s/not-a-token").status_code == 404
    assert api.call(None, "GET", "/s/not-a-token.ics").status_code == 404
    assert api.call(None, "GET", f"/api/runs/{run}/shifts").status_code == 401


def test_a_manager_swaps_a_shift_and_a_lead_of_another_team_is_refused(api, planned):
    run = planned
    shifts = api.call("viewer", "GET", f"/api/runs/{run}/shifts").json()
    shift = shifts[0]
    other = free_at(shifts, shift)
    body = {"to": other, "reason": "covering for a sick colleague"}
    refused = api.call("lead_it", "POST", f"/api/runs/{run}/shifts/{shift['id']}/swap", json=body)
    assert refused.status_code == 403, refused.text
    no_reason = api.call("manager", "POST", f"/api/runs/{run}/shifts/{shift['id']}/swap", json={"to": other})
    assert no_reason.status_code == 422
    done = api.call("manager", "POST", f"/api/runs/{run}/shifts/{shift['id']}/swap", json=body)
    assert done.status_code == 200, done.text
    assert done.json()["shift"]["person"] == other and done.json()["swapped"] == shift["id"]
    again = api.call("manager", "POST", f"/api/runs/{run}/shifts/{shift['id']}/swap", json=body)
    assert again.status_code == 409
    audit = api.call("manager", "GET", f"/api/runs/{run}/audit").json()
    swap = next(e for e in audit["entries"] if e["action"] == "shift.swapped")
    assert swap["reason"] == "covering for a sick colleague" and swap["actor"] == "manager"


def test_the_cli_through_the_api_prints_the_same_shifts(api, planned, monkeypatch):
    run = planned
    monkeypatch.setenv("RUNBOOK_URL", api.url)
    monkeypatch.setenv("RUNBOOK_TOKEN", api.tokens["viewer"])
    result = CliRunner().invoke(cli_app, ["shifts", run, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == api.call("viewer", "GET", f"/api/runs/{run}/shifts").json()
    bad = CliRunner().invoke(cli_app, ["shifts", "swap", run])
    assert bad.exit_code == 2


def test_a_manager_swaps_a_shift_from_the_person_page_form(api, planned):
    run = planned
    shifts = api.call("viewer", "GET", f"/api/runs/{run}/shifts").json()
    shift = shifts[0]
    free = free_at(shifts, shift)
    browser = requests.Session()
    signed = browser.post(f"{api.url}/login", data={"token": api.tokens["manager"]}, timeout=30, allow_redirects=False)
    assert signed.status_code in (302, 303), signed.text
    page = browser.get(f"{api.url}/runs/{run}/people/{shift['person']}", timeout=30)
    assert page.status_code == 200 and f"/runs/{run}/shifts/{shift['id']}/swap" in page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    form = {"csrf": csrf, "idem": "k1", "to": free, "reason": "swap by page"}
    bare = browser.post(f"{api.url}/runs/{run}/shifts/{shift['id']}/swap", data={**form, "csrf": "x"}, timeout=30)
    assert bare.status_code == 403, "no CSRF token, no swap"
    done = browser.post(f"{api.url}/runs/{run}/shifts/{shift['id']}/swap", data=form, timeout=30, allow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == f"/runs/{run}/people/{free}?ok=swap"
    assert [
        s["person"]
        for s in api.call("viewer", "GET", f"/api/runs/{run}/shifts").json()
        if s["start"] == shift["start"] and s["person"] == free
    ]
