"""One person's story in a run (flows/person_ops.py): their answers in order, a changed one no
longer current, one given after the roll call's due time marked late; the items of their
pipeline; finding people by a part of their name."""

from __future__ import annotations

from datetime import datetime

import pytest

from flows.errors import Invalid, NotFound
from flows.store import utcnow
from tests.support.processes import wait_for

ROLL = """id: roll
name: Roll
steps:
  - id: roll
    kind: muster
    owner: team:it
    audience: [L0002, L0003]
    question: Where?
    options: {home: From home, onsite: On site}
    due: 1h
  - id: kit
    kind: manual
    for_each: "${{ steps.roll.answers.home }}"
    as: agent
    owner: team:it
    name: "Kit for ${{ agent.name }}"
"""


def test_a_late_and_a_changed_answer_and_the_items_of_the_pipeline(engine, operator, write_runbook, monkeypatch):
    monkeypatch.setenv("RUNBOOK_TIME_SCALE", "7200")  # 1h = 0.5 s
    run = engine.start(write_runbook(ROLL), "lab", operator)["id"]
    engine.answer(run, "roll", "L0002", "home", operator, via="lead")
    due = datetime.fromisoformat(engine.tasks(run, step="roll")[0]["due_at"])
    wait_for(lambda: utcnow() > due, 10, interval=0.05, what="the roll call's due time")
    engine.answer(run, "roll", "L0002", "onsite", operator, via="lead")
    story = engine.person(run, "L0002")
    assert story["person"] == {"id": "L0002", "name": "Bo Engineer", "team": "it"}
    assert [(a["option"], a["late"], a["current"]) for a in story["answers"]] == [
        ("home", False, False),
        ("onsite", True, True),
    ]
    assert [(i["task"], i["state"]) for i in story["items"]] == [("kit:L0002", "cancelled")]
    assert engine.person(run, "L0003")["answers"] == []
    with pytest.raises(NotFound, match="L9999 is not on the roster of site lab"):
        engine.person(run, "L9999")


def test_people_are_found_by_a_part_of_their_name_or_id(engine, operator, write_runbook):
    run = engine.start(write_runbook(ROLL), "lab", operator)["id"]
    assert [p["id"] for p in engine.people(run, "ENGINEER")["people"]] == ["L0002", "L0003"]
    assert [p["id"] for p in engine.people(run, "boeng")["people"]] == ["L0002"]
    assert engine.people(run, "nobody")["people"] == []
    with pytest.raises(Invalid, match="a part of a name or an id"):
        engine.people(run, "  ")
