"""Group commit per run (flows/store/groups.py): the changes queued on a run while another holds
its transaction go through the next transaction together, each in a savepoint — one commit for
the group, a failing change rolled back alone with its own error for its caller, audit entries
sealed in arrival order, every caller answered only once the commit holding its change is done.
On SQLite and PostgreSQL (the `store` fixture)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import event

from flows.errors import Conflict, NotFound
from flows.session import change_run
from tests.flows.conftest import HERE
from tests.support.processes import wait_for


class Group:
    """A change that holds the run's transaction until released, and check-offs queued behind it."""

    def __init__(self, engine, store, operator):
        self.engine, self.store, self.operator = engine, store, operator
        self.run = engine.start(HERE / "library" / "many_items.yaml", "lab", operator, inputs={"n": 6})["id"]
        self.entered, self.release = threading.Event(), threading.Event()
        self.outcomes: dict[int, Any] = {}
        self.seen_after: dict[int, str | None] = {}  # the task's state read by a fresh reader once answered
        self.threads: list[threading.Thread] = []
        self.held: Any = "unanswered"

    def hold(self) -> None:
        def blocking(rs):
            rs.audit("test.hold", "group")
            self.entered.set()
            assert self.release.wait(120), "the test never released the group"
            return None

        def hold() -> None:
            try:
                self.held = change_run(self.store, self.run, "test", blocking)
            except Exception as e:
                self.held = e

        t = threading.Thread(target=hold)
        t.start()
        self.threads.append(t)
        assert self.entered.wait(60)

    def queue_checkoff(self, n: int, task_id: str) -> None:
        """One caller's check-off, started only once the one before it is queued (arrival order)."""

        def act() -> None:
            try:
                self.outcomes[n] = self.engine.complete(self.run, task_id, self.operator)["task"]["state"]
            except Exception as e:  # the caller's own error, kept for the assertions
                self.outcomes[n] = e
            with self.store.read() as r:
                task = r.task(self.run, task_id)
            self.seen_after[n] = task["state"] if task else None

        t = threading.Thread(target=act)
        t.start()
        self.threads.append(t)
        wait_for(lambda: self.store.groups.queued(self.run) == n, 60, 0.01, what=f"check-off {n} queued")

    def commit_all(self) -> None:
        self.release.set()
        for t in self.threads:
            t.join(120)
        assert not any(t.is_alive() for t in self.threads)

    def commit_all_failing(self, failures: int | None) -> int:
        """`commit_all` with the first `failures` commits failing (None: every one); the commits tried."""
        commits: list[int] = []

        def fail(conn) -> None:
            commits.append(1)
            if failures is None or len(commits) <= failures:
                raise RuntimeError("the disk is full")

        event.listen(self.store.engine, "commit", fail)
        try:
            self.commit_all()
        finally:
            event.remove(self.store.engine, "commit", fail)
        return len(commits)


@pytest.fixture
def commits(store):
    seen: list[int] = []

    def on_commit(conn) -> None:
        seen.append(1)

    event.listen(store.engine, "commit", on_commit)
    yield seen
    event.remove(store.engine, "commit", on_commit)


def test_check_offs_queued_behind_a_change_commit_together_in_arrival_order(engine, store, operator, commits):
    group = Group(engine, store, operator)
    group.hold()
    for n, task_id in enumerate(["item:3", "item:1", "item:5", "item:0"], start=1):
        group.queue_checkoff(n, task_id)
    assert group.outcomes == {}, "nobody is answered before the commit"
    before = len(commits)
    group.commit_all()
    # what queued while the group ran joined it: the held change and the four check-offs, one commit
    assert len(commits) - before == 1
    assert group.outcomes == {1: "done", 2: "done", 3: "done", 4: "done"}
    assert group.seen_after == {1: "done", 2: "done", 3: "done", 4: "done"}, "answered after the commit"
    audit = engine.audit(group.run)
    assert audit["verified"]
    done = [e["target"] for e in audit["entries"] if e["action"] == "task.complete"]
    assert done == ["item:3", "item:1", "item:5", "item:0"], "sealed in arrival order"


def test_a_failing_change_rolls_back_alone_and_its_caller_gets_its_own_error(engine, store, operator, commits):
    group = Group(engine, store, operator)
    group.hold()
    group.queue_checkoff(1, "item:2")
    group.queue_checkoff(2, "item:99")  # no such task
    group.queue_checkoff(3, "item:2")  # the same task again: the first of the group has done it
    group.queue_checkoff(4, "item:4")
    group.commit_all()
    assert group.outcomes[1] == "done" and group.outcomes[4] == "done"
    assert isinstance(group.outcomes[2], NotFound)
    assert isinstance(group.outcomes[3], Conflict) and "is done" in group.outcomes[3].message
    audit = engine.audit(group.run)
    assert audit["verified"]
    done = [e["target"] for e in audit["entries"] if e["action"] == "task.complete"]
    assert done == ["item:2", "item:4"]
    states = {t["id"]: t["state"] for t in engine.tasks(group.run)}
    assert states["item:2"] == states["item:4"] == "done"
    assert [s for t, s in states.items() if t not in ("item:2", "item:4")] == ["waiting"] * 4


def test_a_group_whose_commit_keeps_failing_answers_every_caller_with_the_error_and_keeps_nothing(
    engine, store, operator
):
    group = Group(engine, store, operator)
    group.hold()
    group.queue_checkoff(1, "item:0")
    group.queue_checkoff(2, "item:1")
    assert group.commit_all_failing(None) == 4, "the group's commit, then each of its three changes alone"
    assert [str(group.outcomes[n]) for n in (1, 2)] == ["the disk is full"] * 2
    assert str(group.held) == "the disk is full"
    assert group.seen_after == {1: "waiting", 2: "waiting"}
    assert {t["id"]: t["state"] for t in engine.tasks(group.run)}["item:0"] == "waiting"
    assert engine.audit(group.run)["verified"]
    assert engine.complete(group.run, "item:0", operator)["task"]["state"] == "done", "the run goes on"


def test_a_group_whose_commit_fails_once_runs_its_changes_again_one_by_one(engine, store, operator):
    group = Group(engine, store, operator)
    group.hold()
    group.queue_checkoff(1, "item:0")
    group.queue_checkoff(2, "item:1")
    assert group.commit_all_failing(1) == 4, "the group's failed commit, then one commit for each change"
    assert group.held is None and group.outcomes == {1: "done", 2: "done"}
    assert group.seen_after == {1: "done", 2: "done"}, "answered after the commit holding the change"
    audit = engine.audit(group.run)
    assert audit["verified"]
    assert [e["action"] for e in audit["entries"]].count("test.hold") == 1, "the failed group kept nothing"
    done = [e["target"] for e in audit["entries"] if e["action"] == "task.complete"]
    assert done == ["item:0", "item:1"]


def test_a_row_the_database_refuses_at_the_group_write_fails_only_the_change_that_added_it(engine, store, operator):
    """Check-offs, events and notifications are written together before the commit: a row
    refused there fails the group's transaction, and the group runs again change by change, so
    the error is only its caller's."""
    group = Group(engine, store, operator)
    group.hold()
    outcomes: dict[str, Any] = {}

    def check_off(task_id: str, note: str) -> None:
        try:
            outcomes[task_id] = engine.complete(group.run, task_id, operator, note=note)["task"]["state"]
        except Exception as e:
            outcomes[task_id] = e

    def refuse_the_poisoned_row(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.startswith("INSERT INTO checkoffs") and "poisoned" in repr(parameters):
            raise RuntimeError("value refused by the database")

    threads = []
    for n, (task_id, note) in enumerate([("item:0", "fine"), ("item:1", "poisoned"), ("item:2", "fine")], 1):
        t = threading.Thread(target=check_off, args=(task_id, note))
        t.start()
        threads.append(t)
        wait_for(lambda n=n: store.groups.queued(group.run) == n, 60, 0.01, what=f"check-off {n} queued")
    event.listen(store.engine, "before_cursor_execute", refuse_the_poisoned_row)
    try:
        group.commit_all()
        for t in threads:
            t.join(120)
    finally:
        event.remove(store.engine, "before_cursor_execute", refuse_the_poisoned_row)
    assert outcomes["item:0"] == outcomes["item:2"] == "done"
    assert "value refused by the database" in str(outcomes["item:1"])
    states = {t["id"]: t["state"] for t in engine.tasks(group.run)}
    assert (states["item:0"], states["item:1"], states["item:2"]) == ("done", "waiting", "done")
    with store.read() as r:
        assert [c["task_id"] for c in r.checkoffs(group.run)] == ["item:0", "item:2"]
    assert engine.audit(group.run)["verified"]
