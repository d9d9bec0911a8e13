"""The grant ledger's edges over a real socket: `GET /api/sites/{site}/grants` (managers only,
filters, the drill ledger apart), the managers' page and its CSV export, a person's page with
their grants, `runbook grants` locally and through the API; bad filters named, never a 500."""

from __future__ import annotations

import csv
import io

import pytest
from typer.testing import CliRunner

from console.cli import app as cli_app
from console.iam import IamStandIn
from flows.actors import local_operator
from flows.lifecycle import Engine
from tests.conftest import LAB
from tests.flows.test_grants import drive, ledger


@pytest.fixture
def granted(api, monkeypatch):
    """A run of the lab's grants runbook: two home agents granted, one revoked (changed answer)."""
    with IamStandIn() as iam:
        monkeypatch.setenv("IAM_URL", iam.url)
        monkeypatch.setenv("RUNBOOK_OUTBOUND_ALLOW", f"127.0.0.1:{iam.port}")
        engine, op = Engine(api.store), local_operator()
        run = engine.start(LAB / "library" / "grants.yaml", "lab", op)["id"]
        for person in ("L0002", "L0003"):
            engine.answer(run, "roll", person, "home", op)
        drive(api.store, run, lambda: len(ledger(api.store, run_id=run, states=["active"])) == 2)
        engine.answer(run, "roll", "L0003", "unavailable", op)
        drive(api.store, run, lambda: ledger(api.store, person_id="L0003")[0]["state"] == "revoked")
        yield run


def test_managers_read_the_ledger_with_filters_and_others_are_refused(api, granted):
    r = api.call("manager", "GET", "/api/sites/lab/grants")
    assert r.status_code == 200, r.text
    data = r.json()
    assert data == Engine(api.store).grants("lab")
    assert (data["counts"]["active"], data["counts"]["revoked"]) == (1, 1)
    assert {(g["person"], g["state"], g["name"]) for g in data["grants"]} == {
        ("L0002", "active", "Bo Engineer"),
        ("L0003", "revoked", "Cy Engineer"),
    }
    assert all(g["scope"] == ["hotline", "card-freeze"] and not g["drill"] for g in data["grants"])
    only = api.call("manager", "GET", "/api/sites/lab/grants?state=revoked&system=iam").json()["grants"]
    assert [g["person"] for g in only] == ["L0003"] and only[0]["verified_at"]
    assert api.call("manager", "GET", "/api/sites/lab/grants?person=L0002").json()["grants"][0]["state"] == "active"
    assert api.call("manager", "GET", "/api/sites/lab/grants?drill=1").json()["grants"] == []
    for who, status in (("viewer", 403), ("lead_it", 403), (None, 401)):
        assert api.call(who, "GET", "/api/sites/lab/grants").status_code == status


def test_bad_filters_are_named_in_the_one_error_shape(api):
    for path, status, code in (
        ("/api/sites/lab/grants?state=gone", 422, "invalid"),
        ("/api/sites/nowhere/grants", 404, "not_found"),
        ("/api/sites/lab/grants?person=%3Cscript%3E", 404, "not_found"),  # no such person id can exist
    ):
        r = api.call("manager", "GET", path)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), path


def test_the_page_shows_the_ledger_and_exports_it_as_csv(api, granted):
    page = api.call("manager", "GET", "/sites/lab/grants?state=active")
    assert page.status_code == 200 and 'data-state="active"' in page.text and "Bo Engineer" in page.text
    assert 'data-state="revoked"' not in page.text, "filtered by state"
    assert 'href="/sites/lab/grants.csv?state=active"' in page.text
    exported = api.call("manager", "GET", "/sites/lab/grants.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert sorted((r["person"], r["state"]) for r in rows) == [("L0002", "active"), ("L0003", "revoked")]
    assert rows[0]["scope"] == '["hotline", "card-freeze"]'
    assert api.call("viewer", "GET", "/sites/lab/grants.csv").status_code == 403


def test_a_persons_page_lists_their_grants(api, granted):
    data = api.call("viewer", "GET", f"/api/runs/{granted}/people/L0003").json()
    assert [(g["system"], g["state"]) for g in data["grants"]] == [("iam", "revoked")]
    page = api.call("viewer", "GET", f"/runs/{granted}/people/L0003")
    assert page.status_code == 200 and 'id="person-grants"' in page.text and "home_agent_restricted" in page.text


def test_runbook_grants_prints_the_same_through_the_api(api, granted, monkeypatch):
    monkeypatch.setenv("RUNBOOK_URL", api.url)
    monkeypatch.setenv("RUNBOOK_TOKEN", api.tokens["manager"])
    result = CliRunner().invoke(cli_app, ["grants", "lab", "--state", "active"])
    assert result.exit_code == 0, result.output
    assert "lab: 1 active" in result.output and "L0002" in result.output and "L0003" not in result.output
    bad = CliRunner().invoke(cli_app, ["grants", "lab", "--state", "gone"])
    assert bad.exit_code == 1 and 'unknown grant state "gone"' in bad.output


def test_a_persons_check_in_page_takes_their_answers_and_refuses_bad_ones(api, monkeypatch):
    monkeypatch.setenv("RUNBOOK_TIME_SCALE", "60")
    engine, op = Engine(api.store), local_operator()
    run = engine.start(LAB / "library" / "checkins.yaml", "lab", op)["id"]

    def token() -> str | None:
        with api.store.read() as r:
            found = r.checkin_rounds(run, "welfare:L0002")
        return found[0]["token"] if found else None

    drive(api.store, run, lambda: token() is not None)
    page = api.call(None, "GET", f"/c/{token()}")
    assert page.status_code == 200 and "Your temperature today?" in page.text and 'name="needs"' in page.text
    bad = api.call(None, "POST", f"/c/{token()}", data={"temperature": "hot", "needs": "none"})
    assert bad.status_code == 422 and "answer every question with one of its options: temperature" in bad.text
    ok = api.call(None, "POST", f"/c/{token()}", data={"temperature": "high", "needs": "none"})
    assert ok.status_code == 200 and "Thank you" in ok.text and 'value="high" required checked' in ok.text
    assert [t["outputs"]["question"] for t in engine.tasks(run, step="adhoc")] == ["temperature"]
    assert api.call(None, "GET", "/c/not-a-token").status_code == 404
