"""`GET /api/sites/{site}/coverage` over a real socket: the same answer as the Engine's (and
`runbook coverage --format json`), per role, bad queries named in the one error shape."""

from __future__ import annotations

from console.cli import app as cli_app
from flows.lifecycle import Engine


def test_coverage_over_http_is_the_engines_answer_for_a_site_without_a_run(api):
    r = api.call("viewer", "GET", "/api/sites/desk/coverage?queue=phones&hours=6")
    assert r.status_code == 200, r.text
    data = r.json()
    assert data == Engine(api.store).coverage("desk", queue="phones", hours=6)
    assert (data["site"], data["queue"], data["baseline"], len(data["intervals"])) == ("desk", "phones", True, 12)
    row = data["intervals"][0]
    assert set(row) >= {"start", "local", "calls", "required", "staffed", "gap", "service_level"}
    assert row["start"].endswith("Z") and row["local"][-6] in "+-"


def test_the_cli_prints_the_same_json_through_the_api(api, monkeypatch):
    from typer.testing import CliRunner

    monkeypatch.setenv("RUNBOOK_URL", api.url)
    monkeypatch.setenv("RUNBOOK_TOKEN", api.tokens["viewer"])
    result = CliRunner().invoke(cli_app, ["coverage", "desk", "--hours", "3", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert '"queue": "phones"' in result.output and result.output.count('"start"') == 6


def test_bad_coverage_queries_say_what_is_wrong(api):
    cases = {
        "/api/sites/desk/coverage?hours=0": 422,
        "/api/sites/desk/coverage?hours=337": 422,
        "/api/sites/desk/coverage?queue=phone": 404,
        "/api/sites/nowhere/coverage": 404,
        "/api/sites/lab/coverage": 404,
    }
    for path, status in cases.items():
        r = api.call("viewer", "GET", path)
        assert r.status_code == status, (path, r.text)
        assert set(r.json()["error"]) == {"code", "message"}
    assert (
        "phones, experts"
        in api.call("viewer", "GET", "/api/sites/desk/coverage?queue=phone").json()["error"]["message"]
    )
    assert api.call(None, "GET", "/api/sites/desk/coverage").status_code == 401
