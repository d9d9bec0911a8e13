"""The Xi'an case with grants (docs/case.md), through the Engine and the runner's own
transactions (tests/flows/test_grants.py's `drive`), the IAM stand-in over a socket: 110 staff
answer, 48 home agents get a laptop (40 from the pool, the rest after a restock from Beijing)
and then their restricted permissions — every grant on the ledger with the IAM's id and the
laptop it was granted for. Wu Fangning's colleague X0005 changes to "cannot work" after their
grant: revoked and verified. A review cycle at RUNBOOK_TIME_SCALE (a week in 6 s): one grant
rejected, its revocation refused twice by the IAM (503) and then verified; the others approved.
At stand-down: 0 active grants on the ledger and in the IAM, every revocation verified."""

from __future__ import annotations

import pytest

from console.iam import IamStandIn
from flows.actors import local_operator
from flows.lifecycle import Engine
from flows.store import Store
from tests.flows.test_grants import drive, ledger
from tests.flows.test_xian_case import HOME, STAFF

WEEK = 7 * 86400
SCALE = WEEK / 6  # a week in 6 s: a 30-day grant lasts about 26 s
CHANGER = "X0005"  # home, granted, then "cannot work"
REJECTED = "X0007"  # the reviewer says no longer needed


@pytest.fixture
def xian_store(lab_env, monkeypatch):
    monkeypatch.setenv("RUNBOOK_TIME_SCALE", str(SCALE))
    with IamStandIn() as iam:
        monkeypatch.setenv("IAM_URL", iam.url)
        monkeypatch.setenv("RUNBOOK_OUTBOUND_ALLOW", f"127.0.0.1:{iam.port}")
        store = Store()
        yield store, iam
        store.dispose()


def test_the_xian_lockdown_with_grants_from_granted_to_stand_down(xian_store):
    store, iam = xian_store
    engine, op = Engine(store), local_operator()
    runs, _ = engine.lockdown("xian", op)
    (run,) = [r["id"] for r in runs if r["runbook"] == "callcenter_lockdown"]
    for person in STAFF:
        engine.answer(run, "roll_call", person, "home" if person in HOME else "onsite", op)

    def hand_over() -> int:
        handed = 0
        for task in engine.tasks(run, step="laptop", state="waiting"):
            with store.read() as r:
                held = r.held_item(run, task["id"])
            engine.complete(run, task["id"], op, fields={"asset": held["item_key"]})
            handed += 1
        return handed

    assert hand_over() == 40, "the pool has 40 laptops"
    engine.restock("xian", "laptops", op, from_site="beijing", count=10, reason="Beijing lends ten")
    assert hand_over() == 8
    drive(store, run, lambda: len(ledger(store, run_id=run)) == 48)
    rows = {g["person_id"]: g for g in ledger(store, run_id=run)}
    assert sorted(rows) == sorted(HOME) and {g["state"] for g in rows.values()} == {"active"}
    assert {g["iam_id"] for g in rows.values()} == {g["grant_id"] for g in iam.active()}
    assert all(g["asset"] and g["asset"] == iam.grants[g["iam_id"]]["asset"] for g in rows.values())
    assert len({g["asset"] for g in rows.values()}) == 48, "one laptop each, never twice"

    # A home agent who can no longer work: their pipeline ends and the access goes with it.
    engine.answer(run, "roll_call", CHANGER, "unavailable", op)
    drive(store, run, lambda: ledger(store, person_id=CHANGER)[0]["state"] == "revoked")
    changed = ledger(store, person_id=CHANGER)[0]
    assert changed["verified_at"] and changed["iam_id"] not in {g["grant_id"] for g in iam.active()}

    # The review cycle: every remaining grant is an approval task for IT after a week.
    def reviews() -> list[dict]:
        return engine.tasks(run, step="grant_review", state="waiting")

    drive(store, run, lambda: len(reviews()) == 47)
    by_person = {t["outputs"]["person"]: t for t in reviews()}
    assert by_person[REJECTED]["owner"] == "team:it"
    assert "profile home_agent_restricted, scope [hotline, card-freeze]" in by_person[REJECTED]["title"]
    iam.fail_revokes = 2  # the IAM is down for the first two tries
    engine.reject(run, by_person[REJECTED]["id"], op, reason="moved to the back office")
    for person, task in by_person.items():
        if person != REJECTED:
            engine.approve(run, task["id"], op)
    drive(store, run, lambda: ledger(store, person_id=REJECTED)[0]["state"] == "revoked")
    rejected = ledger(store, person_id=REJECTED)[0]
    assert rejected["attempts"] == 3 and rejected["verified_at"] and "moved to the back office" in rejected["reason"]
    revoked = {g["person_id"] for g in ledger(store, run_id=run, states=["revoked"])}
    assert revoked == {CHANGER, REJECTED}, "the approved ones are kept (or, on a slow machine, already expired)"

    # Stand-down: every open grant revoked, each revocation verified.
    engine.standdown("xian", op)
    drive(store, run, lambda: not ledger(store, site_id="xian", states=["active", "revoking", "revoke_failed"]))
    final = ledger(store, site_id="xian")
    assert len(final) == 48 and all(g["verified_at"] for g in final), "every revocation verified"
    assert iam.active() == [] and engine.grants("xian")["counts"]["active"] == 0
