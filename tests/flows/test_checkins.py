"""Welfare check-ins through the runner's transactions (tests/flows/test_grants.py's `drive`):
each round a personal link to each person (personal channels only); a "needs help" answer is a
living-support task with the person and the answer; a round nobody answers is reminded, then
missed and the owner team's lead is told; after the last round the item is done."""

from __future__ import annotations

import pytest

from flows.errors import Conflict, Invalid
from tests.conftest import LAB
from tests.flows.test_grants import drive, told

RUNBOOK = LAB / "library" / "checkins.yaml"
IT = ["L0001", "L0002", "L0003"]  # the lab's IT team


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setenv("RUNBOOK_TIME_SCALE", str(12 * 3600 / 3))  # 12 h in 3 s


def body(message: dict) -> str:
    """A queued notification's subject, text and link, as its recipient reads them."""
    m = message["message"]
    return f"{m.get('subject') or ''}\n{m.get('text') or ''}\n{m.get('link') or ''}"


def rounds(store, run: str, person: str) -> list[dict]:
    with store.read() as r:
        return r.checkin_rounds(run, f"welfare:{person}")


def test_a_needs_help_answer_is_a_living_support_task_and_a_missed_one_is_told_to_the_lead(
    engine, store, operator, fast
):
    run = engine.start(RUNBOOK, "lab", operator)["id"]
    drive(store, run, lambda: all(rounds(store, run, p) for p in IT))
    requests = told(store, run, "checkin.request")
    assert sorted(m["recipient"] for m in requests) == ["person:L0001", "person:L0002"], "L0003 has no phone"
    assert all(m["channel"] == "phones" and "/c/" in body(m) for m in requests), "the link only by SMS"
    assert "Your temperature today?" in body(requests[0])
    token = rounds(store, run, "L0002")[0]["token"]
    with pytest.raises(Invalid, match="needs"):
        engine.answer_checkin(token, {"temperature": "normal"})
    answer = engine.answer_checkin(token, {"temperature": "normal", "needs": "help"})
    (flag,) = answer["flags"]
    task = engine.tasks(run, step="adhoc")[0]
    assert (task["id"], task["owner"], task["state"]) == (flag, "team:operations", "waiting")
    assert task["title"] == "Living support: Bo Engineer answered needs: Help (someone to talk to) (check-in 1)"
    engine.answer_checkin(rounds(store, run, "L0001")[0]["token"], {"temperature": "normal", "needs": "none"})
    drive(store, run, lambda: bool(told(store, run, "checkin.missed")))
    missed = told(store, run, "checkin.missed")
    assert {m["recipient"] for m in missed} == {"person:L0010"}, "the owner team's lead"
    assert "Cy Engineer (L0003) did not answer check-in 1" in body(missed[0])
    reminded = [m for m in told(store, run, "checkin.request") if body(m).startswith("Reminder")]
    assert [m["recipient"] for m in reminded] == [], "L0003 cannot be reached by a personal channel"
    assert rounds(store, run, "L0002")[0]["reminded_at"] is None, "an answered round is not reminded"
    with pytest.raises(Conflict, match="closed"):
        engine.answer_checkin(token, {"temperature": "high", "needs": "none"})
    drive(store, run, lambda: len(engine.tasks(run, step="welfare", state="done")) == 3)  # after 2 rounds
    done = {t["id"]: t["outputs"] for t in engine.tasks(run, step="welfare")}
    assert done["welfare:L0002"] == {
        "rounds": 2,
        "answered": 1,
        "missed": 1,
        "flags": 1,
        "last": {"temperature": "normal", "needs": "help"},
    }
    assert (done["welfare:L0003"]["rounds"], done["welfare:L0003"]["missed"]) == (2, 2)


def test_an_unanswered_round_is_reminded_with_the_link_again(engine, store, operator, fast):
    run = engine.start(RUNBOOK, "lab", operator)["id"]
    drive(store, run, lambda: rounds(store, run, "L0002") and rounds(store, run, "L0002")[0]["reminded_at"])
    again = [m for m in told(store, run, "checkin.request") if m["recipient"] == "person:L0002"]
    assert len(again) == 2 and body(again[1]).startswith("Reminder: Check-in 1")
    assert body(again[0]).split("/c/")[1] == body(again[1]).split("/c/")[1], "the same link"


def test_check_ins_do_not_hold_a_run_open_they_end_with_it(engine, store, operator, fast, write_runbook):
    path = write_runbook(
        {
            "id": "rb",
            "name": "Work and welfare",
            "steps": [
                {"id": "work", "kind": "manual", "owner": "team:it"},
                {
                    "id": "welfare",
                    "kind": "checkin",
                    "for_each": ["L0002"],
                    "as": "person",
                    "key": "${{ person }}",
                    "owner": "team:operations",
                    "every": "12h",
                    "questions": {"ok": {"text": "All well?", "options": {"yes": "Yes", "no": "No"}}},
                },
            ],
        }
    )
    run = engine.start(path, "lab", operator)["id"]
    drive(store, run, lambda: bool(rounds(store, run, "L0002")))
    assert engine.run(run)["state"] == "running"
    engine.complete(run, "work", operator)
    assert engine.run(run)["state"] == "completed"
    (welfare,) = engine.tasks(run, step="welfare")
    assert welfare["state"] == "done" and welfare["outputs"]["rounds"] == 1
