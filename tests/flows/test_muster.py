"""Roll calls in the store: personal links in muster.request messages, answers with history
(link, lead, SMS), live outputs and objective, items that appear as people answer and go when
they change their mind, and closing (everyone answered, or due with the quorum)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flows import work
from flows.actors import Actor
from flows.errors import Conflict, Forbidden, Invalid, NotFound
from flows.store import utcnow
from tests.support.processes import wait_for

ROLL = """id: roll
name: Roll call
objectives:
  - {id: accounted, name: Staff accounted for, ratio: roll, target: 0.5, within: 4h}
steps:
  - id: roll
    kind: muster
    owner: team:operations
    audience: "${{ site.staff }}"
    question: "Where can you work?"
    options: {onsite: On site, home: From home, unavailable: Cannot work}
    quorum: 0.5
    due: 2h
  - id: laptop
    kind: manual
    for_each: "${{ steps.roll.answers.home }}"
    as: agent
    key: "${{ agent.id }}"
    owner: team:it
    name: "Laptop for ${{ agent.name }}"
  - id: report
    kind: manual
    needs: [laptop]
    owner: team:operations
    name: Report the home agents
"""
LEAD_IT = Actor("lena", "team_lead", frozenset({("lab", "it")}), "L0001")


def links(engine, operator, run):
    return {link["person"]: link["url"].rsplit("/r/", 1)[1] for link in engine.muster_links(run, "roll", operator)}


def test_every_person_gets_a_personal_link_and_answers_build_the_outputs_live(engine, operator, store, write_runbook):
    run = engine.start(write_runbook(ROLL), "lab", operator)["id"]
    tokens = links(engine, operator, run)
    assert sorted(tokens) == ["L0001", "L0002", "L0003", "L0010", "L0011", "L0020"]
    assert len(set(tokens.values())) == 6 and all(len(t) >= 32 for t in tokens.values())
    with store.read() as r:
        requests = [m for m in r.outbox(run_id=run) if m["event"] == "muster.request"]
    # Personal links go by SMS only (the lab's console is a group channel): L0003 and L0011 have no phone.
    assert sorted(m["recipient"] for m in requests) == ["person:L0001", "person:L0002", "person:L0010", "person:L0020"]
    assert {m["channel"] for m in requests} == {"phones"}
    for m in requests:
        assert m["message"]["link"].endswith("/r/" + tokens[m["recipient"].split(":")[1]])
        assert "Where can you work?" in m["message"]["text"] and "2. From home" in m["message"]["text"]
    engine.answer_link(tokens["L0002"], "2")  # by number, through the link
    engine.answer_link(tokens["L0003"], "home")  # by key
    engine.answer(run, "roll", "L0011", "on site", operator, via="sms")  # by label
    roll = engine.tasks(run, step="roll")[0]
    assert roll["state"] == "waiting"
    assert roll["outputs"]["counts"] == {"onsite": 1, "home": 2, "unavailable": 0}
    assert [p["id"] for p in roll["outputs"]["answers"]["home"]] == ["L0002", "L0003"]
    assert roll["outputs"]["accounted"] == 0.5 and roll["outputs"]["unreachable"] == ["L0001", "L0010", "L0020"]
    assert engine.run(run)["objectives"][0]["met"], "the accounted objective is live, before the roll call closes"
    # The first home agents' pipelines started before the roll call closed.
    assert {t["id"]: t["state"] for t in engine.tasks(run, step="laptop")} == {
        "laptop:L0002": "waiting",
        "laptop:L0003": "waiting",
    }
    assert engine.tasks(run, step="report")[0]["state"] == "pending", "an all-items need waits for the close"


def test_a_changed_answer_keeps_history_and_moves_the_persons_items(engine, operator, store, write_runbook):
    run = engine.start(write_runbook(ROLL), "lab", operator)["id"]
    tokens = links(engine, operator, run)
    engine.answer_link(tokens["L0002"], "home")
    engine.answer_link(tokens["L0002"], "unavailable")
    assert engine.tasks(run, step="laptop")[0]["state"] == "cancelled", "not started: it goes"
    engine.answer_link(tokens["L0002"], "home")
    assert engine.tasks(run, step="laptop")[0]["state"] == "waiting", "back again"
    with store.read() as r:
        history = [(a["option"], a["current"]) for a in r.muster_answers(run, "roll", current_only=False)]
    assert history == [("home", False), ("unavailable", False), ("home", True)]
    actions = [e["detail"]["option"] for e in engine.audit(run)["entries"] if e["action"] == "muster.answer"]
    assert actions == ["home", "unavailable", "home"]


def test_the_roll_call_closes_when_everyone_answered_and_its_dependents_go_on(engine, operator, write_runbook):
    run = engine.start(write_runbook(ROLL), "lab", operator)["id"]
    tokens = links(engine, operator, run)
    for person in tokens:
        engine.answer_link(tokens[person], "home" if person in ("L0002", "L0003") else "onsite")
    assert engine.tasks(run, step="roll")[0]["state"] == "done"
    for task in engine.tasks(run, step="laptop"):
        engine.complete(run, task["id"], operator)
    assert engine.tasks(run, step="report")[0]["state"] == "waiting"
    # The gate closed, not the door: a change of mind still counts (the laptop, done, stays done).
    assert engine.answer_link(tokens["L0002"], "onsite")["counts"] == {"onsite": 5, "home": 1, "unavailable": 0}
    roll = engine.tasks(run, step="roll")[0]
    assert roll["state"] == "done" and [p["id"] for p in roll["outputs"]["answers"]["home"]] == ["L0003"]
    assert engine.tasks(run, step="laptop")[0]["state"] == "done"


def test_at_its_due_time_the_quorum_closes_it_and_below_quorum_the_next_answer_does(
    engine, operator, store, monkeypatch, write_runbook
):
    monkeypatch.setenv("RUNBOOK_TIME_SCALE", "7200")  # 2h = 1 s
    run = engine.start(write_runbook(ROLL), "lab", operator)["id"]
    tokens = links(engine, operator, run)
    engine.answer_link(tokens["L0002"], "home")  # 1 of 6: below the quorum of 0.5
    with store.transaction() as tx:
        assert tx.acquire_lease(run, "runner-m", utcnow() + timedelta(seconds=60), utcnow())
    wait_for(
        lambda: work.claim(store, run, "runner-m") is not None and engine.tasks(run, step="roll")[0]["overdue"],
        30,
        interval=0.05,
        what="the roll call past its due time",
    )
    assert engine.tasks(run, step="roll")[0]["state"] == "waiting", "below quorum: it stays open, flagged"
    engine.answer_link(tokens["L0003"], "onsite")
    assert engine.tasks(run, step="roll")[0]["state"] == "waiting"
    engine.answer_link(tokens["L0010"], "onsite")  # 3 of 6: the quorum, after due
    assert engine.tasks(run, step="roll")[0]["state"] == "done"


def test_bad_answers_change_nothing(engine, operator, store, write_runbook):
    run = engine.start(write_runbook(ROLL), "lab", operator)["id"]
    tokens = links(engine, operator, run)
    with pytest.raises(NotFound):
        engine.answer_link("forged-token-0123456789abcdefghij", "home")
    with pytest.raises(Invalid, match="is not an answer"):
        engine.answer_link(tokens["L0002"], "4")
    with pytest.raises(Forbidden, match="does not lead operations"):
        engine.answer(run, "roll", "L0011", "home", LEAD_IT)
    assert engine.answer(run, "roll", "L0002", "home", LEAD_IT)["counts"]["home"] == 1, "a lead answers for their team"
    with pytest.raises(Forbidden):
        engine.muster_links(run, "roll", LEAD_IT)
    engine.cancel(run, operator, reason="drill over")
    with pytest.raises(Conflict):
        engine.answer_link(tokens["L0003"], "home")
    with store.read() as r:
        assert [a["person_id"] for a in r.muster_answers(run, "roll")] == ["L0002"]


def test_non_responders_are_asked_again_then_their_leads_get_call_lists(
    engine, operator, store, monkeypatch, write_runbook
):
    monkeypatch.setenv("RUNBOOK_TIME_SCALE", "3600")  # 1h = 1 s
    text = ROLL.replace(
        "    due: 2h\n", "    due: 8h\n    remind: {every: 1h, max: 1}\n    escalate: {after: 2h, to: owner}\n"
    )
    run = engine.start(write_runbook(text), "lab", operator)["id"]
    tokens = links(engine, operator, run)
    for person in ("L0001", "L0003", "L0010", "L0020"):
        engine.answer_link(tokens[person], "onsite")  # L0002 (it) and L0011 (operations) never answer
    with store.transaction() as tx:
        assert tx.acquire_lease(run, "runner-m", utcnow() + timedelta(seconds=60), utcnow())

    def calls():
        with store.read() as r:
            return [m for m in r.outbox(run_id=run) if m["event"] == "muster.calls"]

    wait_for(
        lambda: work.claim(store, run, "runner-m") is not None and calls(), 30, interval=0.05, what="the call lists"
    )
    with store.read() as r:
        asked = [
            (m["recipient"], m["key"].rsplit(":", 1)[1]) for m in r.outbox(run_id=run) if m["event"] == "muster.request"
        ]
    again = sorted(rec for rec, n in asked if n == "2")
    assert again == ["person:L0002"], "only those who did not answer are asked again (L0011: no phone)"
    lists = {m["recipient"]: m["message"]["text"] for m in calls()}
    assert set(lists) == {"person:L0001", "person:L0010"}, "each team's lead gets their own people"
    assert "Bo Engineer (L0002): +441000000002" in lists["person:L0001"] and "L0011" not in lists["person:L0001"]
    assert "Ed Ops (L0011): no phone on file" in lists["person:L0010"]
    assert engine.tasks(run, step="roll")[0]["state"] == "waiting"
    # Each team with people missing keeps a call task for its leads until they all answered.
    calls_tasks = {t["id"]: t for t in engine.tasks(run, step="calls")}
    assert {k: (t["state"], t["owner"]) for k, t in calls_tasks.items()} == {
        "calls:roll:it": ("waiting", "team:it"),
        "calls:roll:operations": ("waiting", "team:operations"),
    }
    with pytest.raises(Invalid, match="ends by itself"):
        engine.complete(run, "calls:roll:it", LEAD_IT)
    engine.answer(run, "roll", "L0002", "home", LEAD_IT, note="reached by phone")
    assert engine.tasks(run, step="calls")[0]["state"] == "done"
    assert engine.tasks(run, step="calls")[1]["state"] == "waiting"


def past_due(engine, store, run):
    """Let the runner look at the clock until the roll call's due time passed (the gate)."""
    with store.transaction() as tx:
        assert tx.acquire_lease(run, "runner-m", utcnow() + timedelta(seconds=60), utcnow())
    wait_for(
        lambda: work.claim(store, run, "runner-m") is not None and engine.tasks(run, step="roll")[0]["state"] == "done",
        30,
        interval=0.05,
        what="the roll call's gate to close at due",
    )


def test_late_answers_count_start_pipelines_and_hold_back_nothing(engine, operator, store, monkeypatch, write_runbook):
    monkeypatch.setenv("RUNBOOK_TIME_SCALE", "7200")  # 2h = 1 s
    run = engine.start(write_runbook(ROLL), "lab", operator)["id"]
    tokens = links(engine, operator, run)
    for person, option in (("L0001", "onsite"), ("L0002", "home"), ("L0010", "unavailable")):
        engine.answer_link(tokens[person], option)  # 3 of 6: the quorum
    past_due(engine, store, run)
    met_at = engine.run(run)["objectives"][0]["met_at"]
    assert met_at and {t["id"] for t in engine.tasks(run, step="calls")} == {"calls:roll:it", "calls:roll:operations"}
    assert engine.headcount(run, "roll")["answered"] == 3  # kept until the next answer
    engine.answer_link(tokens["L0003"], "home")  # late: counted, and their pipeline starts
    roll = engine.tasks(run, step="roll")[0]
    assert roll["state"] == "done" and roll["outputs"]["counts"] == {"onsite": 1, "home": 2, "unavailable": 1}
    assert roll["outputs"]["accounted"] == round(4 / 6, 4) and roll["outputs"]["unreachable"] == ["L0011", "L0020"]
    assert {t["id"]: t["state"] for t in engine.tasks(run, step="laptop")} == {
        "laptop:L0002": "waiting",
        "laptop:L0003": "waiting",
    }
    engine.complete(run, "laptop:L0002", operator)
    assert engine.tasks(run, step="report")[0]["state"] == "waiting", "the late item holds back nothing resolved"
    objective = engine.run(run)["objectives"][0]
    assert objective["value"] == round(4 / 6, 4) and objective["met_at"] == met_at, "met stays met; the value moves"
    assert engine.tasks(run, step="calls")[0]["state"] == "done", "everyone of it answered"
    count = engine.headcount(run, "roll")
    assert (count["asked"], count["answered"], count["late"], count["unanswered"]) == (6, 4, 1, 2)
    assert count["options"] == {"onsite": 1, "home": 2, "unavailable": 1}
    assert count["unaccounted"] == [
        {"id": "L0011", "name": "Ed Ops", "team": "operations"},
        {"id": "L0020", "name": "Fay Boss", "team": "operations"},
    ]
    assert count["by_team"]["it"] == {
        "asked": 3,
        "options": {"onsite": 1, "home": 2, "unavailable": 0},
        "unanswered": 0,
        "leads": [{"id": "L0001", "name": "Ada Lead"}],
    }
    assert count["by_team"]["operations"]["unanswered"] == 2
    audit = engine.audit(run)["entries"]
    late = [e for e in audit if e["action"] == "muster.answer" and e["detail"].get("late")]
    assert [e["detail"]["person"] for e in late] == ["L0003"]


def test_a_manager_closes_the_roll_call_with_a_reason_once(engine, operator, store, write_runbook):
    run = engine.start(write_runbook(ROLL), "lab", operator)["id"]
    tokens = links(engine, operator, run)
    engine.answer_link(tokens["L0002"], "home")
    with pytest.raises(Forbidden, match="only a manager"):
        engine.close_muster(run, "roll", LEAD_IT, reason="enough")
    with pytest.raises(Invalid, match="needs a reason"):
        engine.close_muster(run, "roll", operator, reason="  ")
    with pytest.raises(NotFound):
        engine.close_muster(run, "laptop", operator, reason="wrong step")
    closed = engine.close_muster(run, "roll", operator, reason="the rest are on leave")
    assert closed["unaccounted"] == 5 and closed["closed"]["reason"] == "the rest are on leave"
    with pytest.raises(Conflict, match="already closed"):
        engine.close_muster(run, "roll", operator, reason="again")
    roll = engine.tasks(run, step="roll")[0]
    assert roll["state"] == "done", "closing an open roll call closes its gate too"
    assert {t["state"] for t in engine.tasks(run, step="calls")} <= {"cancelled"}
    with pytest.raises(Conflict, match="closed by"):
        engine.answer_link(tokens["L0003"], "home")
    page = engine.answer_page(tokens["L0003"])
    assert not page["open"] and page["closed"]["reason"] == "the rest are on leave" and page["call"] == ["Ada Lead"]
    assert engine.headcount(run)["closed"]["by"] == operator.label
    actions = [e["action"] for e in engine.audit(run)["entries"]]
    assert "muster.closed" in actions


def test_leads_answer_for_their_own_team_only_and_bad_answers_are_refused(engine, operator, store, write_runbook):
    run = engine.start(write_runbook(ROLL), "lab", operator)["id"]
    with pytest.raises(Forbidden, match="does not lead operations"):
        engine.answer(run, "roll", "L0011", "home", LEAD_IT, note="heard from a friend")
    with pytest.raises(NotFound, match="on the roster"):
        engine.answer(run, "roll", "Z9999", "home", operator)
    with pytest.raises(Invalid, match="is not an answer"):
        engine.answer(run, "roll", "L0002", "maybe", LEAD_IT)
    engine.answer(run, "roll", "L0002", "1", LEAD_IT, note="reached by phone")
    entry = [e for e in engine.audit(run)["entries"] if e["action"] == "muster.answer"][-1]
    assert entry["actor"] == LEAD_IT.label
    assert entry["detail"] == {
        "person": "L0002",
        "option": "onsite",
        "was": None,
        "via": "lead",
        "note": "reached by phone",
    }
    with store.read() as r:
        assert [a["person_id"] for a in r.muster_answers(run, "roll")] == ["L0002"]
    calls = engine.call_list(run, "roll")
    unreachable = {p["id"] for team in calls["teams"] for p in team["calls"] if not p["reachable"]}
    assert unreachable == {"L0003", "L0011"}, "no personal channel reaches them: no link was sent"
