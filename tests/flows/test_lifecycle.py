"""Task lifecycle rules: fields, idempotency, approvals needing two, overrides, interventions,
time scale and overdue."""

from __future__ import annotations

import time

import pytest

from flows.actors import local_operator
from flows.errors import Conflict, Forbidden, Invalid, NotFound
from tests.flows.conftest import HERE

RUNBOOK = HERE / "library" / "interventions.yaml"


@pytest.fixture
def run(engine, operator):
    return engine.start(RUNBOOK, "lab", operator)["id"]


def people(engine, run, *ids):
    site = engine.site_of(run)
    return [local_operator(i, site) for i in ids]


def test_fields_are_typed_and_checked_all_at_once(engine, run, operator):
    with pytest.raises(Invalid) as exc:
        engine.complete(run, "check", operator, fields={"count": "many", "mode": "some", "colour": "red"})
    message = exc.value.message
    assert 'field "count": expected an integer' in message
    assert 'field "mode": expected one of full, partial' in message
    assert 'unknown field "colour"' in message
    with pytest.raises(Invalid, match='field "count" is required'):
        engine.complete(run, "check", operator)
    assert engine.tasks(run, step="check")[0]["state"] == "waiting"
    engine.complete(run, "check", operator, fields={"count": "7", "mode": "full"})
    assert engine.tasks(run, step="check")[0]["outputs"] == {
        "count": 7,
        "mode": "full",
        "by": operator.name,
        "note": None,
    }


def test_the_same_idempotency_key_gets_the_first_answer_again(engine, run, operator):
    first = engine.complete(run, "check", operator, fields={"count": 1}, key="k1")
    again = engine.complete(run, "check", operator, fields={"count": 1}, key="k1")
    assert again == first
    with pytest.raises(Conflict, match="is done"):
        engine.complete(run, "check", operator, fields={"count": 1}, key="k2")
    with pytest.raises(Conflict, match="different request"):
        engine.complete(run, "check", operator, fields={"count": 2}, key="k1")


def test_concurrent_repeats_with_one_idempotency_key_all_get_the_first_answer(engine, run, operator):
    import threading

    answers, errors = [], []

    def repeat():
        try:
            answers.append(engine.complete(run, "check", operator, fields={"count": 3}, key="same"))
        except Exception as e:  # any error is a failure of the contract
            errors.append(e)

    threads = [threading.Thread(target=repeat) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == [] and len(answers) == 8
    assert all(a == answers[0] for a in answers)
    assert sum(1 for e in engine.audit(run)["entries"] if e["action"] == "task.complete") == 1


def test_two_accounts_of_one_person_are_one_approver(engine, run, operator):
    from flows.actors import Actor

    engine.complete(run, "check", operator, fields={"count": 1})
    first = Actor("alice-laptop", "manager", staff_id="L0020")
    second = Actor("alice-phone", "manager", staff_id="L0020")
    engine.approve(run, "gate", first)
    with pytest.raises(Conflict, match="L0020 already approved"):
        engine.approve(run, "gate", second)


def test_an_approval_needing_two_takes_two_different_people(engine, run, operator):
    lead, boss = people(engine, run, "L0001", "L0020")
    engine.complete(run, "check", lead, fields={"count": 1})
    with pytest.raises(Forbidden, match="belongs to role:manager"):
        engine.approve(run, "gate", lead)
    engine.approve(run, "gate", boss)
    assert engine.tasks(run, step="gate")[0]["state"] == "waiting"
    with pytest.raises(Conflict, match="already approved"):
        engine.approve(run, "gate", boss)
    engine.approve(run, "gate", operator)
    gate = engine.tasks(run, step="gate")[0]
    assert gate["state"] == "done" and gate["outputs"]["by"] == [boss.label, operator.label]


def test_acting_on_another_teams_task_is_an_override_that_needs_a_reason(engine, run):
    ops_lead, boss = people(engine, run, "L0010", "L0020")
    with pytest.raises(Forbidden, match="belongs to team:it"):
        engine.complete(run, "check", ops_lead, fields={"count": 1})
    with pytest.raises(Invalid, match="override and needs a reason"):
        engine.complete(run, "check", boss, fields={"count": 1})
    engine.complete(run, "check", boss, fields={"count": 1}, reason="IT lead unreachable")
    entry = [e for e in engine.audit(run)["entries"] if e["action"] == "task.complete"][0]
    assert entry["reason"] == "IT lead unreachable" and entry["detail"]["override"] is True


def test_a_failing_condition_fails_the_task_skips_its_dependents_and_retry_brings_them_back(engine, run, operator):
    engine.complete(run, "check", operator, fields={"count": 1})
    tasks = {t["id"]: t for t in engine.tasks(run)}
    assert tasks["probe"]["state"] == "failed" and "mode" in tasks["probe"]["reason"]
    assert tasks["after_probe"]["state"] == "skipped"
    assert tasks["after_probe"]["reason"] == "upstream probe was failed"
    with pytest.raises(Forbidden, match="only a manager"):
        engine.retry(run, "probe", people(engine, run, "L0010")[0], reason="try again")
    with pytest.raises(Invalid, match="needs a reason"):
        engine.retry(run, "probe", operator, reason=" ")
    engine.retry(run, "probe", operator, reason="fixed the data")
    tasks = {t["id"]: t for t in engine.tasks(run)}
    assert tasks["probe"]["state"] == "failed"  # the condition still fails...
    assert tasks["after_probe"]["state"] == "skipped"  # ...so its dependent is skipped again
    engine.skip(run, "probe", operator, reason="not needed")
    with pytest.raises(Conflict, match="only a failed task"):
        engine.retry(run, "after_probe", operator, reason="x")


def test_reassign_and_an_ad_hoc_task(engine, run, operator):
    with pytest.raises(Invalid, match="not a team, person or role"):
        engine.reassign(run, "check", operator, reason="IT is overloaded", to="team:nobody")
    engine.reassign(run, "check", operator, reason="IT is overloaded", to="team:operations")
    assert engine.tasks(run, step="check")[0]["owner"] == "team:operations"
    ops_lead = people(engine, run, "L0010")[0]
    engine.complete(run, "check", ops_lead, fields={"count": 2})
    added = engine.add(
        run, operator, reason="generator fuel", title="Refuel the generator", owner="team:operations", due="2h"
    )
    assert added["task"]["id"] == "adhoc:1" and added["task"]["state"] == "waiting"
    engine.complete(run, "adhoc:1", ops_lead, note="done, 200 l")
    actions = [e["action"] for e in engine.audit(run)["entries"]]
    assert {"task.reassign", "task.add"} <= set(actions)


def test_due_and_overdue_follow_the_time_scale(engine, operator, monkeypatch):
    monkeypatch.setenv("RUNBOOK_TIME_SCALE", "3600")  # an hour passes in a second
    run = engine.start(RUNBOOK, "lab", operator)["id"]
    deadline = time.monotonic() + 30
    while not engine.tasks(run, state="overdue") and time.monotonic() < deadline:
        time.sleep(0.1)
    overdue = engine.tasks(run, state="overdue")
    assert [t["id"] for t in overdue] == ["check"]


def test_unknown_run_and_task_are_not_found_with_a_hint(engine, run, operator):
    with pytest.raises(NotFound, match=f'did you mean "{run}"'):
        engine.complete(run[:-1] + "x", "check", operator)
    with pytest.raises(NotFound, match='no task "chek"; did you mean "check"'):
        engine.complete(run, "chek", operator)
    with pytest.raises(Conflict, match="is pending, not waiting"):
        engine.approve(run, "gate", operator)


def test_a_runtime_fan_out_gets_its_items_and_its_per_item_dependents_follow(engine, operator):
    run = engine.start(HERE / "library" / "runtime_fanout.yaml", "lab", operator)["id"]
    engine.complete(run, "fetch", operator, fields={"who": "ann,bob"})
    assert {t["id"]: t["state"] for t in engine.tasks(run, step="a")} == {"a:ann": "waiting", "a:bob": "waiting"}
    engine.complete(run, "a:ann", operator)
    engine.complete(run, "a:bob", operator)
    assert {t["id"]: t["state"] for t in engine.tasks(run, step="b")} == {"b:ann": "waiting", "b:bob": "waiting"}
    for task in ("b:ann", "b:bob", "c"):
        engine.complete(run, task, operator)
    assert engine.run(run)["state"] == "completed"


def test_a_skipped_runtime_fan_out_skips_what_needs_it(engine, operator):
    run = engine.start(HERE / "library" / "runtime_fanout.yaml", "lab", operator)["id"]
    engine.skip(run, "fetch", operator, reason="no list today")
    tasks = {t["id"]: t for t in engine.tasks(run)}
    assert tasks["a"]["state"] == "skipped" and tasks["c"]["state"] == "skipped"
    assert engine.run(run)["state"] == "completed"


def test_a_for_each_that_fails_at_start_is_a_clear_error_and_starts_nothing(engine, operator, write_runbook):
    path = write_runbook(
        "id: bad\nname: Bad\nsteps:\n  - id: a\n    kind: manual\n    owner: team:it\n"
        "    for_each: \"${{ site.staff | map(attribute='missing') | list }}\"\n"
    )
    with pytest.raises(Invalid, match=r'step "a" \(rb.yaml:4\)'):
        engine.start(path, "lab", operator)
    assert engine.runs() == []
