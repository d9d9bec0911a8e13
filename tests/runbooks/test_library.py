"""The shipped library: every runbook validates against every shipped site and plans sensibly."""

from __future__ import annotations

import pytest

from runbooks.estimate import estimate_plan
from runbooks.library import runbook_files, site_directories
from runbooks.plan import load_plan, load_runbook, trigger_matches, validate_file
from runbooks.sites import load_site

RUNBOOKS = sorted(runbook_files().items())
SITES = sorted(site_directories().items())


def test_library_ships_the_three_runbooks_and_two_sites():
    assert {"callcenter_lockdown", "site_reopening", "datacenter_failover"} <= set(runbook_files())
    assert {"xian", "beijing"} <= set(site_directories())


@pytest.mark.parametrize("site_id,site_dir", SITES, ids=[s for s, _ in SITES])
@pytest.mark.parametrize("runbook_id,path", RUNBOOKS, ids=[r for r, _ in RUNBOOKS])
def test_every_library_runbook_validates_against_every_site(runbook_id, path, site_id, site_dir):
    site = load_site(site_dir)
    assert validate_file(path, site) == []
    plan = load_plan(path, site)
    assert plan.runbook_id == runbook_id and plan.site.id == site_id


def test_xian_is_a_call_center_of_about_110_staff_with_40_laptops(xian):
    assert xian.kind == "callcenter"
    assert 100 <= len(xian.staff) <= 120
    assert {"operations", "it", "training", "supervisors", "living_support"} <= set(xian.teams)
    assert len(xian.pools["laptops"].available()) == 40


def test_callcenter_lockdown_has_the_per_agent_pipeline_and_objectives(xian):
    plan = load_plan(runbook_files()["callcenter_lockdown"], xian)
    assert [plan.step(s).item_needs for s in ("setup", "training", "go_live")] == [
        ("laptop",),
        ("setup",),
        ("training",),
    ]
    assert {plan.step(s).streams_from for s in ("laptop", "setup", "training", "go_live")} == {"roll_call"}
    assert plan.step("roll_call").params["quorum"] == 0.9
    objectives = {o.id: o for o in plan.objectives}
    assert (objectives["agents_live"].target, objectives["agents_live"].within) == (48, 72 * 3600)
    assert (objectives["accounted"].target, objectives["accounted"].within) == (0.9, 4 * 3600)


def test_plan_of_the_lockdown_at_xian_gives_critical_path_and_warnings(xian):
    report = estimate_plan(load_plan(runbook_files()["callcenter_lockdown"], xian))
    assert ("${{ steps.roll_call.answers.home }}", ["laptop", "setup", "training", "go_live"], 110) in report.pipelines
    live = next(o for o in report.objectives if o.id == "agents_live")
    assert live.path == ("roll_call", "laptop", "setup", "training", "go_live")
    assert live.fits and live.duration == (2 * 60 + 4 * 60 + 30 + 8 * 60 + 60) * 60
    codes = {w.code: w.message for w in report.warnings}
    assert codes["RB601"].startswith("pool laptops has 40 available, up to 110")
    assert codes["RB602"].startswith("12 staff")


def test_triggers_pick_the_runbooks_a_call_center_lockdown_starts(xian):
    started = {rid for rid, path in RUNBOOKS if trigger_matches(load_runbook(path)[1], xian, "site.lockdown")}
    assert started == {"callcenter_lockdown"}
    ended = {rid for rid, path in RUNBOOKS if trigger_matches(load_runbook(path)[1], xian, "site.standdown")}
    assert ended == {"site_reopening"}


def test_failover_fans_out_over_the_it_team_without_a_muster(beijing):
    plan = load_plan(runbook_files()["datacenter_failover"], beijing)
    verify = plan.step("verify_systems")
    report = estimate_plan(plan)
    assert verify.streams_from is None
    assert next(e for e in report.steps if e.step.id == "verify_systems").items == 5
    assert {s.kind for s in plan.steps} >= {"http", "wait", "approval", "manual"}
