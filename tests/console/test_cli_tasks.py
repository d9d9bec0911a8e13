"""`runbook tasks` and friends as a lead uses them (issue 26, item 7): open tasks unless
`--all`, `--team` case-insensitive and an unknown team named as an error, a did-you-mean that
never points at another person's task, and reading commands that never create a store."""

from __future__ import annotations

import json
import re

import pytest


@pytest.fixture
def run(cli):
    run = cli("lockdown", "lab").stdout.strip()
    assert cli("approve", run, "declare").exit_code == 0
    assert cli("done", run, "prepare", "--field", "ticket=CHG-7").exit_code == 0
    return run


def ids(cli, *args: str) -> set[str]:
    result = cli("tasks", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return {t["id"] for t in json.loads(result.stdout)["tasks"]}


def test_tasks_lists_open_tasks_unless_all(cli, run):
    shown = ids(cli, run)
    assert "declare" not in shown and "prepare" not in shown and "verify:L0002" in shown
    assert {"declare", "prepare"} <= ids(cli, run, "--all")
    assert ids(cli, run, "--state", "done") == {"declare", "prepare"}  # a state asked for is shown


def test_team_is_matched_case_insensitively_and_an_unknown_one_is_an_error_naming_the_teams(cli, run):
    assert ids(cli, run, "--team", "IT", "--all") == ids(cli, run, "--team", "it", "--all") != set()
    result = cli("tasks", run, "--team", "itt")
    assert result.exit_code == 1
    assert 'unknown team "itt"' in result.stderr and "it, operations" in result.stderr


def test_a_mistyped_task_id_suggests_the_same_item_never_another_persons_task(cli, run):
    result = cli("done", run, "verfy:L0002", "--field", "healthy=true")
    assert result.exit_code == 1 and 'did you mean "verify:L0002"' in result.stderr
    result = cli("done", run, "verify:L0009", "--field", "healthy=true")
    assert result.exit_code == 1 and "did you mean" not in result.stderr
    assert 'step "verify" has no item "L0009"' in result.stderr
    result = cli("done", run, "prepar")
    assert 'did you mean "prepare"' in result.stderr


def test_reading_commands_never_create_a_store_and_name_runbook_home(cli, lab_env):
    home = lab_env / "home"
    for args in (("status",), ("tasks", "r1234abcd"), ("audit", "r1234abcd"), ("headcount", "r1234abcd")):
        result = cli(*args)
        assert result.exit_code == 1, (args, result.output)
        assert "no store in" in result.stderr and "RUNBOOK_HOME" in result.stderr
        assert not (home / "runbook.db").exists(), args


def test_times_are_in_the_site_zone_with_its_abbreviation_unless_utc(cli, run):
    # the lab site is Europe/London: GMT in winter, BST in summer
    local = cli("audit", run)
    assert local.exit_code == 0 and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (GMT|BST) ", local.stdout)
    utc = cli("--utc", "audit", run)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC ", utc.stdout)
    status = cli("--utc", "status", run)
    assert re.search(r"started \d{4}-\d\d-\d\d \d\d:\d\d UTC", status.stdout)
    as_json = json.loads(cli("status", run, "--format", "json").stdout)
    assert as_json["started_at"].endswith("+00:00"), "JSON stays ISO 8601 in UTC"
