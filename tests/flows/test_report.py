"""The after-action report from the store: step durations equal those computed from the task
rows; an objective a completed run never reached is reported missed (and one reached after its
deadline missed with a negative margin); interventions carry their reasons; the audit verifies;
a drill is scored against the previous drill of the same runbook and site."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from flows.actors import local_operator
from flows.store.schema import objectives as objectives_table
from tests.flows.test_pools import ALLOC, sites  # noqa: F401  (the fixture: two sites with laptops)
from tests.support.report_checks import assert_step_durations_match_the_store


def play_lab_response(engine, operator, *, drill: bool, skip_cy: bool) -> str:
    """human_response at the lab; with `skip_cy` a manager skips Cy's verification (so only 2 of
    the 3 systems the objective counts are verified), and the run still completes."""
    run = engine.start("human_response", "lab", operator, drill=drill)["id"]
    site = engine.site_of(run)
    lead, bo, cy = (local_operator(p, site) for p in ("L0001", "L0002", "L0003"))
    engine.approve(run, "declare", operator)
    engine.complete(run, "prepare", lead, fields={"ticket": "CHG-1", "spares": "2"})
    engine.complete(run, "verify:L0002", bo, fields={"healthy": "true"})
    engine.complete(run, "verify:L0001", lead, fields={"healthy": "true"})
    if skip_cy:
        engine.skip(run, "verify:L0003", operator, reason="Cy is on leave")
    else:
        engine.complete(run, "verify:L0003", cy, fields={"healthy": "true"})
    engine.approve(run, "signoff:L0002", lead)
    engine.approve(run, "signoff:L0001", operator)
    if not skip_cy:
        engine.approve(run, "signoff:L0003", lead)
    result = engine.complete(run, "close", local_operator("L0010", site))
    assert result["run"]["state"] == "completed"
    return run


def test_a_completed_run_with_an_objective_short_is_reported_missed_with_its_durations(engine, operator, store):
    run = play_lab_response(engine, operator, drill=False, skip_cy=True)
    report = engine.report(run)
    (verified,) = report["objectives"]
    assert report["run"]["state"] == "completed" and report["drill"] is False and report["score"] is None
    assert verified["value"] == 2 and verified["target"] == 3
    assert (verified["met"], verified["outcome"], verified["met_at"]) == (False, "missed", None)
    assert verified["margin_s"] is None, "ended before its deadline without it: missed, no margin"
    assert "objective.missed" in [t["what"] for t in report["timeline"]]
    assert_step_durations_match_the_store(report, store, run)
    steps = {s["id"]: s for s in report["steps"]}
    assert steps["verify"]["done"] == 2 and set(steps["verify"]["teams"]) == {"person:L0001", "person:L0002"}
    assert steps["close"]["waiting"] == 0
    assert [(i["action"], i["target"], i["reason"]) for i in report["interventions"]] == [
        ("skip", "verify:L0003", "Cy is on leave")
    ]
    with store.read() as r:
        assert report["audit"] == {"verified": True, "entries": len(r.audit(run)), "problems": []}
    assert report["notifications"]["channels"]["console"]["sent"] + report["notifications"]["pending"] > 0
    assert {b["id"] for b in report["bottlenecks"]["steps"]} >= {"declare", "prepare", "close"}
    timeline = [t["what"] for t in report["timeline"]]
    assert timeline[0] == "started" and timeline[-1] == "run.completed"


def test_an_objective_met_after_its_deadline_is_missed_with_a_negative_margin(engine, operator, store):
    run = play_lab_response(engine, operator, drill=False, skip_cy=False)
    (on_time,) = engine.report(run)["objectives"]
    assert on_time["met"] and on_time["outcome"] == "met" and on_time["margin_s"] > 0
    late = on_time["deadline"]
    with store.transaction() as tx:  # as if the third system was verified 5 minutes too late
        from datetime import datetime

        tx.conn.execute(
            update(objectives_table)
            .where(objectives_table.c.run_id == run)
            .values(met_at=datetime.fromisoformat(late) + timedelta(minutes=5))
        )
    (missed,) = engine.report(run)["objectives"]
    assert (missed["met"], missed["outcome"], missed["margin_s"]) == (False, "missed", -300.0)


def test_a_drill_is_scored_against_the_previous_drill_of_the_same_runbook_and_site(engine, operator):
    real = play_lab_response(engine, operator, drill=False, skip_cy=False)  # not a drill: not compared
    first = play_lab_response(engine, operator, drill=True, skip_cy=True)
    first_score = engine.report(first)["score"]
    assert first_score["previous"] is None and first_score["change"] is None
    assert (first_score["objectives_met"], first_score["objectives"], first_score["interventions"]) == (0, 1, 1)
    second = play_lab_response(engine, operator, drill=True, skip_cy=False)
    score = engine.report(second)["score"]
    assert score["previous"]["run"] == first and score["previous"]["run"] != real
    assert (score["objectives_met"], score["interventions"]) == (1, 0)
    assert score["change"]["objectives_met"] == 1 and score["change"]["interventions"] == -1


def test_a_pool_shortage_is_a_bottleneck_until_the_restock_serves_its_items(engine, operator, write_runbook, request):
    request.getfixturevalue("sites")  # after the lab's environment: its two sites with laptops
    run = engine.start(write_runbook(ALLOC), "east", operator)["id"]  # 3 laptops for 5 items
    during = engine.report(run)["bottlenecks"]
    (shortage,) = during["shortages"]
    assert (shortage["pool"], shortage["step"], shortage["items"], shortage["until"]) == ("laptops", "laptop", 2, None)
    assert sorted(b["task"] for b in during["blocked"] if b["open"]) == ["laptop:3", "laptop:4"]
    engine.restock("east", "laptops", operator, from_site="west", count=2, reason="loan")
    after = engine.report(run)
    (shortage,) = after["bottlenecks"]["shortages"]
    assert shortage["items"] == 2 and shortage["until"] is not None and shortage["seconds"] >= 0
    assert not [b for b in after["bottlenecks"]["blocked"] if b["open"]]
    assert [(i["action"], i["reason"]) for i in after["interventions"]] == [("restock", "loan")]
