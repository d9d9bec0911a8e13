"""The CLI side of issue 17: `runbook tasks` shows the allocated asset with its pool columns,
a wrong hand-over key is refused in the CLI's own words (with the `--field` to type), and
`runbook audit RUN --format csv` is the audit JSON as CSV, a formula-like cell escaped."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from console.cli import app

RUNBOOK = """id: handover
name: Laptops
steps:
  - id: laptop
    kind: allocate
    for_each: "${{ range(2) | list }}"
    pool: laptops
    handover: true
    owner: team:it
    name: "Laptop {{ item }}"
"""


@pytest.fixture
def cli(lab_env, monkeypatch):
    site = lab_env / "sites" / "hq"
    site.mkdir(parents=True)
    (site / "staff.csv").write_text("id,name,team,role\nH0001,Lead,it,team_lead\n")
    (site / "laptops.csv").write_text(
        "asset_tag,model,status,location\nLT-0,T14,available,Desk 1\nLT-1,T14,available,Desk 2\n"
    )
    (site / "site.yaml").write_text(
        "id: hq\nname: HQ\nkind: lab\nteams:\n  it: {name: IT, leads: [H0001]}\n"
        "channels:\n  console: {kind: console}\ndefault_channel: console\n"
        "pools:\n  laptops: {file: laptops.csv, key: asset_tag}\n"
    )
    (lab_env / "handover.yaml").write_text(RUNBOOK)
    monkeypatch.setenv("RUNBOOK_SITES", str(lab_env / "sites"))
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args))

    return invoke


def test_tasks_show_the_asset_a_wrong_key_is_refused_and_the_audit_exports_as_csv(cli, lab_env):
    started = cli("start", str(lab_env / "handover.yaml"), "--site", "hq")
    assert started.exit_code == 0, started.output
    run = started.output.split()[0]
    listed = cli("tasks", run, "--step", "laptop")
    assert "LT-0 · T14 · Desk 1" in listed.output and "LT-1 · T14 · Desk 2" in listed.output

    wrong = cli("done", run, "laptop:0", "--field", "asset=LT-1")
    assert wrong.exit_code == 1
    assert "LT-1 is not an available item of pool laptops: it is allocated to 1" in wrong.output
    assert "--field asset=LT-0" in wrong.output, "the CLI names what to type"
    hostile = "=1+2"
    done = cli("done", run, "laptop:0", "--field", "asset=LT-0", "--reason", hostile)
    assert done.exit_code == 0, done.output

    as_json = json.loads(cli("audit", run, "--format", "json").output)["entries"]
    exported = cli("audit", run, "--format", "csv")
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(exported.output)))
    assert [r["action"] for r in rows] == [e["action"] for e in as_json]
    assert [r["at"] for r in rows] == [e["at"] for e in as_json]
    assert [json.loads(r["detail"]) if r["detail"] else None for r in rows] == [e["detail"] for e in as_json]
    complete = next(r for r in rows if r["action"] == "task.complete")
    assert complete["reason"] == "'=1+2", "a formula stays text"
