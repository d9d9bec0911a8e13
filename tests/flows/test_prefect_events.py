"""Engine events → Prefect events, without a server: the name, the resources (drill marked),
the payload; the rate bound sends run-level events always and counts the task events past it."""

from __future__ import annotations

from datetime import datetime

from flows.prefect_events import EventBudget, prefect_event


def test_a_task_event_becomes_runbook_event_on_the_run_with_its_site_and_task_related():
    row = {
        "seq": 42,
        "run_id": "r1a2b3c4",
        "site_id": "xian",
        "name": "task.done",
        "task_id": "laptop:X0005",
        "at": datetime(2026, 12, 3, 9, 30),
        "data": {"state": "done"},
    }
    event = prefect_event(row, drill=True)
    assert event["event"] == "runbook.task.done"
    assert event["resource"] == {
        "prefect.resource.id": "runbook.run.r1a2b3c4",
        "prefect.resource.name": "r1a2b3c4",
        "runbook.drill": "true",
    }
    assert {(r["prefect.resource.id"], r["prefect.resource.role"]) for r in event["related"]} == {
        ("runbook.site.xian", "site"),
        ("runbook.task.r1a2b3c4.laptop:X0005", "task"),
    }
    assert event["payload"] == {"seq": 42, "task": "laptop:X0005", "drill": True, "state": "done"}
    assert event["occurred"].tzinfo is not None, "the store's naive UTC times are sent as UTC"


def test_an_events_prefect_id_is_the_same_on_every_send_and_differs_by_run_and_seq():
    row = {"seq": 7, "run_id": "r1", "site_id": "lab", "name": "task.done", "at": datetime(2026, 12, 3, 9, 30)}
    again = prefect_event(dict(row), drill=False)["id"]
    assert prefect_event(row, drill=False)["id"] == again, "a resend is a duplicate Prefect drops"
    assert prefect_event({**row, "seq": 8}, drill=False)["id"] != again
    assert prefect_event({**row, "run_id": "r2"}, drill=False)["id"] != again


def test_past_the_budget_task_events_are_counted_and_run_events_still_go():
    budget = EventBudget(rate=0.001, burst=3)  # refills one token in 1,000 s: none during the test
    sent = [budget.take("task.done") for _ in range(10)]
    assert sent[:3] == [True, True, True] and not any(sent[3:])
    assert budget.take("run.completed") and budget.take("objective.reached")
    assert budget.suppressed == 7
