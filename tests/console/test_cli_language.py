"""CLI contract for the language commands: validate, plan, schema (docs/cli.md)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from console.cli import app
from tests.conftest import LIBRARY

runner = CliRunner()
CASES = __import__("pathlib").Path(__file__).parent.parent / "runbooks" / "cases" / "invalid"


def test_validate_the_library_against_a_site_exits_zero():
    result = runner.invoke(app, ["validate", str(LIBRARY), "--site", "xian"])
    assert result.exit_code == 0, result.output
    assert "3 runbook(s) valid against site xian" in result.stdout


def test_validate_prints_every_problem_with_a_snippet_and_exits_one():
    result = runner.invoke(app, ["validate", str(CASES / "many_problems.yaml")])
    assert result.exit_code == 1
    assert 'many_problems.yaml:7:5: error[RB101]: unknown key "du"' in result.stdout
    assert "7 |     du: 4h\n  |     ^~" in result.stdout
    assert '= hint: did you mean "due"?' in result.stdout
    assert "RB302" in result.stdout and "RB301" in result.stdout
    assert "3 error(s) in 1 file(s)" in result.stdout


def test_validate_json_has_the_contract_shape():
    result = runner.invoke(app, ["validate", str(CASES / "unknown_needs.yaml"), "--format", "json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["valid"] is False
    d = data["diagnostics"][0]
    assert set(d) == {"path", "line", "col", "code", "severity", "message", "hint"}
    assert (d["line"], d["col"], d["code"]) == (8, 13, "RB302")


def test_validate_usage_errors_exit_two():
    assert runner.invoke(app, ["validate"]).exit_code == 2
    assert runner.invoke(app, ["validate", "no_such_thing"]).exit_code == 2
    result = runner.invoke(app, ["validate", str(LIBRARY), "--site", "xain"])
    assert result.exit_code == 2 and 'did you mean "xian"' in result.stderr


def test_validate_a_site_directory_reports_its_csv_lines():
    site = CASES.parent / "sites" / "staff_unknown_team"
    result = runner.invoke(app, ["validate", str(site)])
    assert result.exit_code == 1
    assert "staff.csv:5:18: error[RB503]" in result.stdout


def test_plan_prints_the_per_agent_pipeline_and_the_critical_path():
    result = runner.invoke(app, ["plan", "callcenter_lockdown", "--site", "xian"])
    assert result.exit_code == 0, result.output
    assert "laptop → setup → training → go_live" in result.stdout
    assert "roll_call → laptop → setup → training → go_live = 15h30m" in result.stdout
    assert "pool laptops has 40 available, up to 110 may be needed" in result.stdout
    assert "12 staff in the audience" in result.stdout


def test_plan_json_with_inputs():
    result = runner.invoke(
        app, ["plan", "callcenter_lockdown", "--site", "beijing", "--input", "home_agents=20", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["inputs"]["home_agents"] == 20
    assert next(o for o in data["objectives"] if o["id"] == "agents_live")["target"] == 20
    assert {"id", "kind", "items", "items_max", "needs", "per_item_needs"} <= set(data["steps"][0])


def test_plan_with_a_bad_input_says_which_and_changes_nothing():
    result = runner.invoke(app, ["plan", "callcenter_lockdown", "--site", "xian", "--input", "home_agents=many"])
    assert result.exit_code == 1
    assert 'input "home_agents": expected an integer' in result.stderr
    result = runner.invoke(app, ["plan", "callcenter_lockdown", "--site", "xian", "--input", "home_agent=3"])
    assert result.exit_code == 1 and 'did you mean "home_agents"' in result.stderr
    assert runner.invoke(app, ["plan", "callcenter_lockdown", "--site", "xian", "--input", "novalue"]).exit_code == 2


def test_schema_is_json_schema_with_every_step_kind():
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    kinds = {d["properties"]["kind"]["const"] for name, d in schema["$defs"].items() if name.endswith("Step")}
    assert kinds == {
        "manual",
        "approval",
        "muster",
        "allocate",
        "http",
        "grant",
        "checkin",
        "notify",
        "wait",
        "shifts",
        "loan",
    }
    assert schema["$defs"]["ManualStep"]["additionalProperties"] is False
