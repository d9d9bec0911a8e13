"""The runner's transactions: a runner that lost the lease changes nothing and holds nothing."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from flows import work
from flows.store import utcnow
from tests.conftest import LAB


def test_a_runner_without_the_lease_is_refused_and_leaves_the_store_writable(engine, operator, store):
    run = engine.start(LAB / "library" / "interventions.yaml", "lab", operator)["id"]
    with store.transaction() as tx:
        assert tx.acquire_lease(run, "owner-a", utcnow() + timedelta(seconds=60), utcnow())
    with pytest.raises(work.LeaseLost):
        work.claim(store, run, "owner-b")
    done = []
    writer = threading.Thread(target=lambda: done.append(engine.complete(run, "check", operator, fields={"count": 1})))
    writer.start()
    writer.join(60)
    assert done and done[0]["task"]["state"] == "done", "the refused claim must not keep the write lock"
