"""End to end on the store: a lockdown starts a runbook of human steps with a fan-out over the
IT team; scripted check-offs advance each person's pipeline on its own; the run completes and
its audit chain verifies, until someone edits a row."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from flows.actors import local_operator
from flows.errors import Conflict, Forbidden, Invalid


def states(engine, run_id, step=None):
    return {t["id"]: t["state"] for t in engine.tasks(run_id, step=step)}


def test_lockdown_to_completed_run_with_per_item_pipelines(engine, operator, store):
    runs, created = engine.lockdown("lab", operator)
    assert created and [r["runbook"] for r in runs] == ["human_response"]
    run = runs[0]["id"]
    site = engine.site_of(run)
    lead, bo, cy = (local_operator(p, site) for p in ("L0001", "L0002", "L0003"))
    ops = local_operator("L0010", site)

    assert states(engine, run) == {
        "declare": "waiting",
        "prepare": "pending",
        "close": "pending",
        **{f"{s}:{p}": "pending" for s in ("verify", "signoff") for p in ("L0001", "L0002", "L0003")},
    }
    engine.approve(run, "declare", operator)
    engine.complete(run, "prepare", lead, fields={"ticket": "CHG-1042", "spares": "3"})
    verify = states(engine, run, "verify")
    assert set(verify.values()) == {"waiting"}
    assert {t["owner"] for t in engine.tasks(run, step="verify")} == {"person:L0001", "person:L0002", "person:L0003"}

    # Bo finishes first: Bo's sign-off is waiting while Cy's verification still is.
    engine.complete(run, "verify:L0002", bo, fields={"healthy": "true"})
    assert states(engine, run, "signoff") == {
        "signoff:L0001": "pending",
        "signoff:L0002": "waiting",
        "signoff:L0003": "pending",
    }
    engine.approve(run, "signoff:L0002", lead)
    engine.complete(run, "verify:L0003", cy, fields={"healthy": "false"}, note="one switch down")
    engine.complete(run, "verify:L0001", lead, fields={"healthy": "true"})
    # Four eyes: the lead verified their own systems, so someone else signs them off.
    with pytest.raises(Forbidden, match="four eyes"):
        engine.approve(run, "signoff:L0001", lead)
    engine.approve(run, "signoff:L0001", operator)
    assert states(engine, run)["close"] == "pending"
    engine.approve(run, "signoff:L0003", lead)
    assert states(engine, run)["close"] == "waiting"
    result = engine.complete(run, "close", ops)
    assert result["run"]["state"] == "completed"

    data = engine.run(run)
    assert data["state"] == "completed" and data["counts"] == {"done": 9}
    objective = data["objectives"][0]
    assert objective | {"met_at": None, "deadline": None, "forecast": None} == {
        "id": "verified",
        "name": "Systems verified",
        "value": 3.0,
        "target": 3.0,
        "met": True,
        "met_at": None,
        "deadline": None,
        "forecast": None,
        "state": "met",
    }
    with engine.store.read() as r:
        seq = r.last_event_seq(run)
    assert objective["forecast"] | {"computed_at": None} == {
        "p50": objective["met_at"],
        "p90": objective["met_at"],
        "probability": 1.0,
        "as_of": seq,  # known from the run as read, not simulated
        "computed_at": None,
    }
    assert engine.tasks(run, step="verify")[2]["outputs"] == {
        "healthy": False,
        "by": "L0003",
        "note": "one switch down",
    }

    audit = engine.audit(run)
    assert audit["verified"]
    actions = [e["action"] for e in audit["entries"]]
    assert actions[0] == "run.start" and actions[-1] == "run.completed"
    assert actions.count("task.complete") == 5 and actions.count("task.approve") == 4

    with store.engine.begin() as conn:
        conn.execute(text("UPDATE audit SET reason = 'nothing to see' WHERE chain = :c AND n = 3"), {"c": run})
    tampered = engine.audit(run)
    assert not tampered["verified"]
    assert tampered["problems"] == ["entry 3 (task.complete prepare) was altered"]


def test_a_repeated_lockdown_returns_the_active_runs(engine, operator):
    first, created = engine.lockdown("lab", operator)
    again, created_again = engine.lockdown("lab", operator)
    assert created and not created_again
    assert [r["id"] for r in again] == [r["id"] for r in first]
    engine.standdown("lab", operator)
    third, created_third = engine.lockdown("lab", operator, drill=True)
    assert created_third and third[0]["id"] != first[0]["id"] and third[0]["drill"] is True


def test_reject_skips_the_items_pipeline_and_the_run_still_completes(engine, operator, store):
    run = engine.lockdown("lab", operator)[0][0]["id"]
    engine.approve(run, "declare", operator)
    engine.complete(run, "prepare", operator, fields={"ticket": "CHG-1"})
    with pytest.raises(Invalid, match="needs a reason"):
        engine.reject(run, "verify:L0002", operator, reason=None)
    with pytest.raises(Invalid, match="not an approval"):
        engine.reject(run, "verify:L0002", operator, reason="bad")
    engine.skip(run, "verify:L0002", operator, reason="on leave")
    assert states(engine, run, "signoff")["signoff:L0002"] == "skipped"
    for p in ("L0001", "L0003"):
        engine.complete(run, f"verify:{p}", local_operator(p, engine.site_of(run)), fields={"healthy": "yes"})
    engine.reject(run, "signoff:L0001", local_operator("L0020", engine.site_of(run)), reason="not convinced")
    engine.approve(run, "signoff:L0003", operator)
    assert states(engine, run)["close"] == "waiting"  # an all-items need waits for every item to end
    engine.complete(run, "close", operator)
    data = engine.run(run)
    assert data["state"] == "completed"
    assert data["counts"] == {"done": 6, "skipped": 2, "rejected": 1}


def test_a_repeated_cancel_with_one_key_gets_the_first_answer_again(engine, operator, store):
    run = engine.lockdown("lab", operator)[0][0]["id"]
    first = engine.cancel(run, operator, reason="false alarm", key="cancel-1")
    with store.read() as r:
        audit_rows = len(r.audit(run))
    again = engine.cancel(run, operator, reason="false alarm", key="cancel-1")
    assert first["state"] == "cancelled" and again == first, "the run's JSON, not null"
    with store.read() as r:
        assert len(r.audit(run)) == audit_rows, "nothing changed"
    with pytest.raises(Conflict, match="different request"):
        engine.cancel(run, operator, reason="another reason", key="cancel-1")


def test_cancel_closes_every_open_task_and_freezes_the_run(engine, operator):
    run = engine.lockdown("lab", operator)[0][0]["id"]
    with pytest.raises(Invalid, match="needs a reason"):
        engine.cancel(run, operator, reason="")
    data = engine.cancel(run, operator, reason="false alarm")
    assert data["state"] == "cancelled" and set(data["counts"]) == {"cancelled"}
    with pytest.raises(Conflict, match="is cancelled"):
        engine.approve(run, "declare", operator)
