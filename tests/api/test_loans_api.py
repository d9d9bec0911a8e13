"""Loans over a real socket: Xi'an's tied manager requests, is refused on Beijing's side,
Beijing's tied manager accepts; both coverage answers show the loan; the CLI through the API."""

from __future__ import annotations

import datetime as dt
import json

from typer.testing import CliRunner

from console import auth
from console.cli import app as cli_app


def test_tied_managers_request_and_accept_and_the_cli_lists_it(api, monkeypatch):
    xian = auth.add_account(api.store, "lena", "manager", by="test", sites=["xian"])
    beijing = auth.add_account(api.store, "wei", "manager", by="test", sites=["beijing"])
    assert api.call("manager", "POST", "/api/sites/xian/lockdown", json={}).status_code == 201
    start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=2)
    body = {
        "from_site": "beijing",
        "to_site": "xian",
        "queue": "hotline",
        "agents": 2,
        "start": start.isoformat(),
        "end": (start + dt.timedelta(hours=3)).isoformat(),
        "reason": "home agents not live yet",
    }
    as_xian = {"Authorization": f"Bearer {xian}"}
    as_beijing = {"Authorization": f"Bearer {beijing}"}
    made = api.session(None).post(f"{api.url}/api/loans", json=body, headers=as_xian, timeout=30)
    assert made.status_code == 201, made.text
    loan = made.json()["id"]
    wrong_way = api.session(None).post(
        f"{api.url}/api/loans", json={**body, "from_site": "xian", "to_site": "beijing"}, headers=as_beijing, timeout=30
    )
    assert wrong_way.status_code in (403, 409)
    refused = api.session(None).post(f"{api.url}/api/loans/{loan}/accept", json={}, headers=as_xian, timeout=30)
    assert refused.status_code == 403 and "not beijing" in refused.json()["error"]["message"]
    accepted = api.session(None).post(f"{api.url}/api/loans/{loan}/accept", json={}, headers=as_beijing, timeout=30)
    assert accepted.status_code == 200 and accepted.json()["state"] == "active"
    bj = api.call("viewer", "GET", "/api/sites/beijing/coverage?hours=12").json()
    assert [x["id"] for x in bj["loans"]] == [loan] and max(r["staffed"]["lent_out"] for r in bj["intervals"]) == 2
    monkeypatch.setenv("RUNBOOK_URL", api.url)
    monkeypatch.setenv("RUNBOOK_TOKEN", api.tokens["viewer"])
    listed = CliRunner().invoke(cli_app, ["lend", "list", "--site", "beijing", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    states = {x["requested_by"]: x["state"] for x in json.loads(listed.stdout)}
    assert states.pop("lena") == "active"
    assert list(states.values()) == ["requested"] and all(by.startswith("run:") for by in states), (
        "the lockdown's runbook asked Beijing too (its backup_cover step)"
    )
