"""Findings tracked to closure: a manager records them about a run (also after it ended), on
the site's audit chain; the owner is told `finding.due` from the due time on, again a (scaled)
day later, until a manager closes it with a reason; open ones show on the overview and in the
later reports of the site."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flows.actors import local_operator
from flows.errors import Conflict, Forbidden, Invalid, NotFound
from flows.findings import remind_due
from flows.store import utcnow


def finish_lab_run(engine, operator) -> str:
    run = engine.start("human_response", "lab", operator)["id"]
    engine.cancel(run, operator, reason="exercise over")
    return run


def due_messages(store, finding_id: str) -> list[dict]:
    with store.read() as r:
        return [m for m in r.outbox(states=["pending", "sent", "dead"]) if m["event"] == "finding.due"]


def test_a_finding_about_an_ended_run_lives_on_the_site_chain_and_reminds_its_owner_until_closed(
    engine, operator, store, monkeypatch
):
    monkeypatch.setenv("RUNBOOK_TIME_SCALE", "3600")  # a day is 24 s
    run = finish_lab_run(engine, operator)
    found = engine.add_finding(
        run,
        operator,
        observation="Laptops ran out after 40",
        discussion="the pool CSV was a year old",
        recommendation="Keep 10% spare laptops",
        owner="team:it",
        due="14d",
    )
    assert found["state"] == "open" and found["owner"] == "team:it" and found["run"] == run
    with store.read() as r:
        site_chain = [e["action"] for e in r.audit("site:lab")]
        run_chain = [e["action"] for e in r.audit(run)]
    assert "finding.add" in site_chain and "finding.add" not in run_chain

    due_at = utcnow() + timedelta(seconds=14 * 86400 / 3600)
    assert remind_due(store, due_at - timedelta(seconds=1)) == 0, "not before it is due"
    assert remind_due(store, due_at + timedelta(seconds=1)) == 1
    assert remind_due(store, due_at + timedelta(seconds=2)) == 0, "once, not at every look"
    assert remind_due(store, due_at + timedelta(seconds=30)) == 1, "again a (scaled) day later"
    told = due_messages(store, found["id"])
    assert [m["recipient"] for m in told] == ["person:L0001", "person:L0001"], "the IT team's lead"
    assert (
        "Keep 10% spare laptops" in told[0]["message"]["text"] and "/sites/lab/findings" in told[0]["message"]["text"]
    )

    with pytest.raises(Invalid, match="reason"):
        engine.close_finding(found["id"], operator, reason=" ")
    closed = engine.close_finding(found["id"], operator, reason="spares bought (PO 4411)")
    assert closed["state"] == "closed" and closed["reason"] == "spares bought (PO 4411)" and closed["reminders"] == 2
    assert remind_due(store, due_at + timedelta(days=3)) == 0, "no reminder once closed"
    with pytest.raises(Conflict, match="closed already"):
        engine.close_finding(found["id"], operator, reason="again")
    with store.read() as r:
        assert [e["action"] for e in r.audit("site:lab")][-1] == "finding.close"
    assert [f["id"] for f in engine.findings("lab")["findings"]] == [found["id"]]
    assert engine.findings("lab", open_only=True)["findings"] == []


def test_open_findings_show_on_the_overview_and_in_every_later_report_of_the_site(engine, operator):
    first = finish_lab_run(engine, operator)
    found = engine.add_finding(
        first, operator, observation="Slow sign-off", recommendation="Two approvers", owner="role:manager", due="7d"
    )
    (site,) = [s for s in engine.overview()["sites"] if s["id"] == "lab"]
    assert [f["id"] for f in site["findings"]] == [found["id"]]
    assert (site["name"], site["timezone"], site["runs"]) == ("Test lab", "Europe/London", []), "no run, named"
    later = engine.start("human_response", "lab", operator)["id"]
    assert [f["id"] for f in engine.report(later)["findings"]] == [found["id"]]
    engine.close_finding(found["id"], operator, reason="done")
    assert engine.report(later)["findings"] == [], "closed before: not the later run's business"
    assert [f["id"] for f in engine.report(first)["findings"]] == [found["id"]], "its own run keeps it"
    assert all(s["findings"] == [] for s in engine.overview()["sites"])


def test_bad_findings_are_refused_saying_why(engine, operator):
    run = finish_lab_run(engine, operator)
    good = {"observation": "x", "recommendation": "y", "owner": "team:it", "due": "14d"}
    for change, message in (
        ({"observation": ""}, "observation"),
        ({"recommendation": None}, "recommendation"),
        ({"owner": "team:nobody"}, "not a team, person or role of site lab"),
        ({"due": "two weeks"}, "--due takes a duration"),
        ({"observation": "x" * 5000}, "at most 4000"),
    ):
        with pytest.raises(Invalid, match=message):
            engine.add_finding(run, operator, **{**good, **change})
    with pytest.raises(NotFound, match='no run "rnope"'):
        engine.add_finding("rnope", operator, **good)
    with pytest.raises(NotFound):
        engine.close_finding("f00000000", operator, reason="r")
    lead = local_operator("L0001", engine.site_of(run))
    with pytest.raises(Forbidden, match="only a manager"):
        engine.add_finding(run, lead, **good)
    assert engine.findings("lab")["findings"] == []


def test_the_runners_loop_tells_the_owner_when_a_finding_falls_due(engine, operator, store):
    from flows.runner import Runner
    from tests.support.processes import wait_for

    run = finish_lab_run(engine, operator)  # ended: no run to drive, only the clock to watch
    found = engine.add_finding(
        run, operator, observation="No spare phones", recommendation="Stock 5", owner="person:L0002", due="1s"
    )
    runner = Runner(store, name="test-findings").start()
    try:
        told = wait_for(lambda: due_messages(store, found["id"]), 30, what="finding.due from the runner's loop")
    finally:
        runner.stop()
    assert [m["recipient"] for m in told] == ["person:L0002"]
    with store.read() as r:
        assert [e["target"] for e in r.audit("site:lab") if e["action"] == "finding.due"] == [found["id"]]
