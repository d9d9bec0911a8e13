"""CLI contract for runs on the local store: lockdown, tasks, done, audit; and bad input that
gets a clear message, a non-zero exit, and changes nothing in the store."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from flows.store import Store
from flows.store.schema import audit, checkoffs, events, tasks
from tests.conftest import LAB


def snapshot():
    store = Store()
    with store.engine.connect() as conn:
        data = {
            "audit": conn.execute(select(func.count()).select_from(audit)).scalar_one(),
            "checkoffs": conn.execute(select(func.count()).select_from(checkoffs)).scalar_one(),
            "events": conn.execute(select(func.count()).select_from(events)).scalar_one(),
            "tasks": sorted(conn.execute(select(tasks.c.id, tasks.c.state, tasks.c.owner)).all()),
        }
    store.dispose()
    return data


def test_lockdown_prints_run_ids_and_a_lead_checks_off_from_the_cli(cli):
    result = cli("lockdown", "lab")
    assert result.exit_code == 0, result.output
    run = result.stdout.strip()
    assert run.startswith("r") and "started 1 run(s)" in result.stderr
    again = cli("lockdown", "lab")
    assert again.stdout.strip() == run and "already in lockdown" in again.stderr

    assert cli("approve", run, "declare").exit_code == 0
    result = cli("done", run, "prepare", "--field", "ticket=CHG-7", "--as", "L0001", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"] == [{"task": "prepare", "ok": True, "state": "done"}]
    result = cli("done", run, "verify:L0002", "verify:L0003", "--field", "healthy=true")
    assert result.exit_code == 0 and "verify:L0002: done\nverify:L0003: done" in result.stdout

    tasks_json = json.loads(cli("tasks", run, "--state", "waiting", "--format", "json").stdout)["tasks"]
    assert {t["id"] for t in tasks_json} == {"verify:L0001", "signoff:L0002", "signoff:L0003"}
    assert {"id", "step", "item", "state", "owner", "overdue"} <= set(tasks_json[0])
    status = json.loads(cli("status", run, "--format", "json").stdout)
    assert {"id", "runbook", "site", "state", "drill", "counts", "objectives"} <= set(status)
    assert status["objectives"][0]["value"] == 2.0
    assert "verify" in cli("status", run).stdout
    assert cli("audit", run, "--verify").exit_code == 0


def test_bad_input_gets_a_clear_message_and_changes_nothing(cli):
    run = cli("lockdown", "lab").stdout.strip()
    cli("approve", run, "declare")
    cancelled = cli("start", str(LAB / "library" / "interventions.yaml"), "--site", "lab").stdout.strip()
    assert cli("cancel", cancelled, "--reason", "drill over").exit_code == 0
    before = snapshot()
    cases = [
        (("done", "rnope", "prepare"), 'no run "rnope"'),
        (("done", run, "prepair", "--field", "ticket=CHG-1"), 'no task "prepair"; did you mean "prepare"'),
        (("done", run, "close"), "task close is pending, not waiting"),
        (("done", cancelled, "check", "--field", "count=1"), f"run {cancelled} is cancelled"),
        (("done", run, "prepare", "--field", "ticket=change 1"), 'field "ticket": does not match CHG-[0-9]+'),
        (
            ("done", run, "prepare", "--field", "spares=two", "--field", "ticket=CHG-2"),
            'field "spares": expected an integer',
        ),
        (("done", run, "prepare", "--field", "ticket=CHG-3", "--as", "L0020"), "override and needs a reason"),
        (("done", run, "prepare", "--as", "L0011"), "belongs to team:it"),  # staff of another team
        (("skip", run, "close"), "needs a reason"),
        (("reject", run, "declare", "--reason", "x"), "is done"),
        (("lockdown", "atlantis"), 'no site "atlantis"'),
        (("standdown", "atlantis"), 'no site "atlantis"'),
        (("reassign", run, "close", "--reason", "busy", "--to", "team:ghosts"), "not a team, person or role"),
        (("audit", "rnope"), 'no run "rnope"'),
    ]
    for args, message in cases:
        result = cli(*args)
        assert result.exit_code != 0, args
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.output
    assert snapshot() == before


def test_audit_verify_fails_when_a_row_was_edited(cli):
    run = cli("lockdown", "lab").stdout.strip()
    cli("approve", run, "declare")
    store = Store()
    with store.engine.begin() as conn:
        conn.execute(audit.update().where(audit.c.chain == run, audit.c.n == 2).values(actor="someone else"))
    store.dispose()
    result = cli("audit", run, "--verify")
    assert result.exit_code == 1
    assert "does NOT verify" in result.stdout and "entry 2" in result.stdout
