"""The grant ledger against a real IAM stand-in (console/iam.py over a socket), driven by the
runner's own transactions (flows/work.py claims and records, flows/revoker.py sweeps) without
Prefect: every home agent's grant on the ledger; an answer that ends a pipeline revokes and
verifies; a review rejected revokes, an unreviewed one is escalated; a revocation the IAM
refuses twice (503) is retried and verified; a cancelled run leaves nothing active; a drill's
grants are recorded, not sent, and marked."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from console.iam import IamStandIn
from flows import revoker, work
from flows.steps import StepError, executor
from flows.store import utcnow
from tests.conftest import LAB

RUNBOOK = LAB / "library" / "grants.yaml"
HOME = ["L0002", "L0003", "L0011"]
WEEK = 7 * 86400


@pytest.fixture
def iam(monkeypatch):
    with IamStandIn() as service:
        monkeypatch.setenv("IAM_URL", service.url)
        monkeypatch.setenv("RUNBOOK_OUTBOUND_ALLOW", f"127.0.0.1:{service.port}")
        yield service


def drive(store, run: str, until: Callable[[], bool], deadline: float = 60) -> None:
    """What a runner does, in this thread: claim due steps, execute them, record the results,
    and sweep the grant ledger, until `until()` holds (or fail at the deadline)."""
    with store.transaction() as tx:
        tx.acquire_lease(run, "test", utcnow() + timedelta(hours=1), utcnow())
    end = time.monotonic() + deadline
    while not until():
        assert time.monotonic() < end, "the condition did not come true in time"
        claimed = work.claim(store, run, "test")
        results = []
        for job in claimed.jobs:
            try:
                results.append((job, executor(job.kind)(job), None))
            except StepError as e:
                results.append((job, None, e))
        if results:
            work.record(store, run, "test", results)
        revoker.sweep(store)
        time.sleep(0.05)


def ledger(store, **kw) -> list[dict]:
    with store.read() as r:
        return r.grants(**kw)


def told(store, run: str, event: str) -> list[dict]:
    with store.read() as r:
        return [m for m in r.outbox(run_id=run, states=["pending", "sent", "dead"]) if m["event"] == event]


def start(engine, operator, *, drill: bool = False, answers=HOME) -> str:
    run = engine.start(RUNBOOK, "lab", operator, drill=drill)["id"]
    for person in answers:
        engine.answer(run, "roll", person, "home", operator)
    return run


def test_every_home_agent_gets_a_grant_on_the_ledger_with_the_iams_id(engine, store, operator, iam):
    run = start(engine, operator)
    drive(store, run, lambda: len(ledger(store, run_id=run)) == 3)
    rows = {g["person_id"]: g for g in ledger(store, run_id=run)}
    assert sorted(rows) == HOME
    assert {g["state"] for g in rows.values()} == {"active"}
    assert sorted(g["iam_id"] for g in rows.values()) == sorted(g["grant_id"] for g in iam.active())
    one = rows["L0002"]
    assert (one["system"], one["profile"], one["scope"]) == ("iam", "home_agent_restricted", ["hotline", "card-freeze"])
    assert one["expires_at"] - one["granted_at"] == timedelta(days=30)
    assert one["review_at"] - one["granted_at"] == timedelta(days=7)
    assert not one["drill"] and one["owner"] == "team:it"


def test_a_person_who_changes_to_cannot_work_is_revoked_and_verified(engine, store, operator, iam):
    run = start(engine, operator)
    drive(store, run, lambda: len(ledger(store, run_id=run, states=["active"])) == 3)
    gid = next(g["iam_id"] for g in ledger(store, person_id="L0003"))
    engine.answer(run, "roll", "L0003", "unavailable", operator)
    drive(store, run, lambda: ledger(store, person_id="L0003")[0]["state"] == "revoked")
    row = ledger(store, person_id="L0003")[0]
    assert row["verified_at"] is not None and "changed their answer to unavailable" in row["reason"]
    assert ("DELETE", f"/grants/{gid}") in iam.calls and ("GET", f"/grants/{gid}") in iam.calls
    assert gid not in {g["grant_id"] for g in iam.active()}
    assert len(ledger(store, run_id=run, states=["active"])) == 2, "the others keep theirs"


def test_a_revocation_refused_twice_is_retried_then_verified_and_audited(engine, store, operator, iam):
    run = start(engine, operator, answers=["L0002"])
    drive(store, run, lambda: len(ledger(store, run_id=run, states=["active"])) == 1)
    iam.fail_revokes = 2
    engine.cancel(run, operator, reason="drill over")
    drive(store, run, lambda: ledger(store, run_id=run)[0]["state"] == "revoked")
    row = ledger(store, run_id=run)[0]
    assert row["attempts"] == 3 and row["verified_at"] is not None and row["last_error"] is None
    assert [m for m, p in iam.calls if p.startswith(f"/grants/{row['iam_id']}")] == ["DELETE"] * 3 + ["GET"]
    trail = [e["action"] for e in engine.audit(run)["entries"] if e["action"].startswith("grant.")]
    assert trail == [
        "grant.recorded",
        "grant.revoke_requested",
        "grant.revoke_failed",
        "grant.revoke_failed",
        "grant.revoked",
    ]
    assert iam.active() == []


def test_a_revocation_that_keeps_failing_is_revoke_failed_told_once_and_still_retried(
    engine, store, operator, iam, monkeypatch
):
    monkeypatch.setenv("RUNBOOK_TIME_SCALE", "60")  # its retries: every second once it is revoke_failed
    run = start(engine, operator, answers=["L0002"])
    drive(store, run, lambda: len(ledger(store, run_id=run, states=["active"])) == 1)
    iam.fail_revokes = 1000
    engine.cancel(run, operator, reason="over")
    drive(store, run, lambda: ledger(store, run_id=run)[0]["attempts"] >= 6)
    row = ledger(store, run_id=run)[0]
    assert row["state"] == "revoke_failed" and "returned 503" in row["last_error"]
    alerts = told(store, run, "grant.revoke_failed")
    assert alerts and len({m["recipient"] for m in alerts}) == len(alerts), "each recipient told once"
    iam.fail_revokes = 0
    drive(store, run, lambda: ledger(store, run_id=run)[0]["state"] == "revoked")
    assert ledger(store, run_id=run)[0]["verified_at"] is not None


def test_a_rejected_review_revokes_and_an_approved_one_is_due_again(engine, store, operator, iam, monkeypatch):
    monkeypatch.setenv("RUNBOOK_TIME_SCALE", str(WEEK / 2))  # a week in 2 s
    run = start(engine, operator, answers=["L0002", "L0003"])
    reviews = lambda: engine.tasks(run, step="grant_review", state="waiting")  # noqa: E731
    drive(store, run, lambda: len(reviews()) == 2)
    tasks = {t["outputs"]["person"]: t for t in reviews()}
    assert tasks["L0002"]["title"].startswith("Still needed for Bo Engineer: profile home_agent_restricted")
    assert "scope [hotline, card-freeze]" in tasks["L0002"]["title"] and tasks["L0002"]["owner"] == "team:it"
    before = ledger(store, person_id="L0002")[0]["review_at"]
    engine.approve(run, tasks["L0002"]["id"], operator)
    engine.reject(run, tasks["L0003"]["id"], operator, reason="no longer on the hotline")
    drive(store, run, lambda: ledger(store, person_id="L0003")[0]["state"] == "revoked")
    kept = ledger(store, person_id="L0002")[0]
    assert kept["state"] == "active" and kept["review_at"] > before and kept["reviewed_at"] is not None
    assert "review rejected" in ledger(store, person_id="L0003")[0]["reason"]


def test_an_unreviewed_grant_is_flagged_overdue_and_escalated_never_extended(engine, store, operator, iam, monkeypatch):
    monkeypatch.setenv("RUNBOOK_TIME_SCALE", str(WEEK / 1))  # a week in 1 s; 30 d in about 4 s
    run = start(engine, operator, answers=["L0002"])
    drive(store, run, lambda: bool(told(store, run, "grant.review_overdue")))
    assert [t["id"] for t in engine.tasks(run, step="grant_review", state="overdue")], "flagged overdue"
    assert ledger(store, run_id=run)[0]["state"] == "active", "still active until it expires"
    drive(store, run, lambda: ledger(store, run_id=run)[0]["state"] == "expired")
    row = ledger(store, run_id=run)[0]
    lasted = (row["expires_at"] - row["granted_at"]).total_seconds()
    assert lasted == pytest.approx(30 * 86400 / WEEK, abs=0.01), "30 days at this scale: never extended by the silence"
    assert row["verified_at"] is not None and iam.active() == []


def test_a_drills_grants_are_recorded_not_sent_and_marked(engine, store, operator, iam):
    run = start(engine, operator, drill=True, answers=["L0002"])
    drive(store, run, lambda: len(ledger(store, run_id=run)) == 1)
    row = ledger(store, run_id=run)[0]
    assert row["drill"] and row["state"] == "active" and iam.calls == []
    assert ledger(store, drill=False) == [], "never mixed with real grants"
    engine.cancel(run, operator, reason="drill over")
    drive(store, run, lambda: ledger(store, run_id=run)[0]["state"] == "revoked")
    assert iam.calls == [] and ledger(store, run_id=run)[0]["verified_at"] is None


def test_a_laptop_reported_missing_takes_the_access_granted_for_it(engine, store, operator, iam):
    from flows import pools
    from flows.session import change_run

    run = engine.start(LAB / "library" / "grants_laptop.yaml", "camp", operator)["id"]
    drive(store, run, lambda: len(ledger(store, run_id=run, states=["active"])) == 2)
    rows = {g["person_id"]: g for g in ledger(store, run_id=run)}
    assert {g["asset"] for g in rows.values()} == {"LT-C-01", "LT-C-02"}
    lost = rows["C0002"]["asset"]
    # What a `returns:` step's check-off does with condition "missing" (flows/kinds/manual.py).
    change_run(
        store, run, "test", lambda rs: pools.give_back(rs, "laptops", {"id": "back", "item_key": lost}, "missing")
    )
    drive(store, run, lambda: ledger(store, person_id="C0002")[0]["state"] == "revoked")
    gone = ledger(store, person_id="C0002")[0]
    assert gone["reason"] == f"laptop {lost} reported missing" and gone["verified_at"] is not None
    assert ledger(store, person_id="C0001")[0]["state"] == "active", "the other laptop's access stays"
