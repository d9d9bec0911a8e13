"""Leases outside a Runner (the deployed path): a reservation for a submitted attempt has one
winner; the attempt takes a reserved run, waits while a live owner holds it and gives up after
its patience; a lease won from a dead owner counts as a takeover, a reservation handed to its
attempt does not; a lost lease is noticed by the holder."""

from __future__ import annotations

import threading
from datetime import timedelta

from flows.actors import local_operator
from flows.runner import RunLease
from flows.store import utcnow


def _run(engine) -> str:
    return engine.start("human_response", "lab", local_operator())["id"]


def _lease(store, run_id: str) -> tuple[str | None, int]:
    with store.read() as r:
        row = r.run_head(run_id)
    return row["lease_owner"], row["takeovers"]


def test_one_submitter_wins_the_reservation_and_its_attempt_takes_it_without_a_takeover(store, engine):
    run = _run(engine)
    now = utcnow()
    with store.transaction() as tx:
        assert tx.reserve_run(run, "watcher:a", now + timedelta(seconds=30), now)
        assert not tx.reserve_run(run, "watcher:b", now + timedelta(seconds=30), now), "one submitter wins"
        assert not tx.acquire_lease(run, "runner-x", now + timedelta(seconds=10), now), (
            "a Runner does not take a run reserved for an attempt"
        )
    lease = RunLease(store, run, "w1:1:abc", ttl=5)
    assert lease.take(patience=0) is None
    try:
        assert _lease(store, run) == ("w1:1:abc", 0)
    finally:
        lease.release()
    assert _lease(store, run) == (None, 0), "handed back"


def test_an_attempt_waits_for_a_live_owner_and_gives_up_after_its_patience(store, engine):
    run = _run(engine)
    holder = RunLease(store, run, "w1:1:live", ttl=30)
    assert holder.take(patience=0) is None
    try:
        assert RunLease(store, run, "w2:2:late", ttl=30).take(patience=0.2) == "runner w1:1:live owns it"
    finally:
        holder.release()


def test_a_lease_won_from_a_dead_owner_is_a_takeover_and_the_old_holder_learns_it(store, engine):
    run = _run(engine)
    old = RunLease(store, run, "w1:1:old", ttl=30)
    assert old.take(patience=0) is None
    later = utcnow() + timedelta(seconds=31)  # the old owner stopped renewing long ago
    with store.transaction() as tx:
        assert tx.acquire_lease(run, "w2:2:new", later + timedelta(seconds=10), later, reserved=True)
    assert _lease(store, run) == ("w2:2:new", 1)
    lost = threading.Event()
    watcher = threading.Thread(target=lambda: lost.set() if old.wake.wait(30) and not old.held.is_set() else None)
    watcher.start()
    watcher.join(40)
    old.release()
    assert lost.is_set(), "the renewal noticed the lease was gone"
    assert _lease(store, run)[0] == "w2:2:new", "releasing a lost lease leaves the new owner's alone"


def test_a_reservation_for_a_run_that_ended_is_refused(store, engine, operator):
    run = _run(engine)
    engine.cancel(run, operator, reason="drill over")
    now = utcnow()
    with store.transaction() as tx:
        assert not tx.reserve_run(run, "watcher:a", now + timedelta(seconds=30), now)
    assert RunLease(store, run, "w1:1:x", ttl=5).take(patience=0) == "the run is cancelled"
