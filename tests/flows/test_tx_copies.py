"""A transaction reads a task, the run's head and its steps once and keeps its copies in step with
its own writes (flows/store/tx.py, runs.py): the task just written is not read again, what a read
hands out is the caller's own, a savepoint's rollback forgets what it wrote, and audit rows
sealed in a rolled-back savepoint are never written."""

from __future__ import annotations

from sqlalchemy import event

from flows.store import utcnow
from tests.flows.conftest import HERE


def _start(engine, operator) -> str:
    return engine.start(HERE / "library" / "many_items.yaml", "lab", operator, inputs={"n": 3})["id"]


def _task_selects(store):
    seen: list[str] = []

    def on_execute(conn, cursor, statement, *args) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM tasks" in statement:
            seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", on_execute)
    return seen, lambda: event.remove(store.engine, "before_cursor_execute", on_execute)


def test_a_task_written_in_a_transaction_is_not_read_again_and_reads_as_written(engine, store, operator):
    run = _start(engine, operator)
    selects, stop = _task_selects(store)
    try:
        with store.transaction(serial=run) as tx:
            first = tx.task(run, "item:0")
            assert first is not None and first["state"] == "waiting"
            now = utcnow()
            assert tx.write_task_state(run, "item:0", ["waiting"], "done", ended_at=now, outputs={"a": [1]})
            again = tx.task(run, "item:0")
            assert len(selects) == 1, "read once"
            first["state"] = "scribbled"  # a caller's copy is its own
            assert tx.task(run, "item:0")["state"] == "done"
            assert again is not None and again["ended_at"] == now and again["outputs"] == {"a": [1]}
            fresh = tx.tasks(run, ids=["item:0"])[0]  # what the store itself holds now
            assert {k: fresh[k] for k in ("state", "ended_at", "outputs")} == {
                k: again[k] for k in ("state", "ended_at", "outputs")
            }
    finally:
        stop()


def test_a_rolled_back_savepoint_forgets_its_writes_and_its_audit_rows(engine, store, operator):
    run = _start(engine, operator)
    with store.transaction(serial=run) as tx:
        tx.lock_chain(run)
        try:
            with tx.savepoint():
                tx.task(run, "item:1")
                tx.write_task_state(run, "item:1", ["waiting"], "done", ended_at=utcnow())
                tx.append_audit(run, actor="test", action="test.rolled_back", target="item:1")
                assert tx.task(run, "item:1")["state"] == "done"
                raise RuntimeError("this change fails")
        except RuntimeError:
            pass
        assert tx.task(run, "item:1")["state"] == "waiting"
        tx.append_audit(run, actor="test", action="test.kept", target="item:2")
    entries = engine.audit(run)
    assert entries["verified"]
    actions = [e["action"] for e in entries["entries"]]
    assert "test.rolled_back" not in actions and actions[-1] == "test.kept"


def test_rows_of_earlier_changes_written_inside_a_rolled_back_savepoint_are_kept(engine, store, operator):
    """Events, check-offs, notifications and audit rows wait in memory until the commit or a read
    of them. A read inside a savepoint writes those of the changes before it too: when that
    savepoint rolls back, they are not lost but wait again, and only its own are gone."""
    run = _start(engine, operator)
    with store.transaction(serial=run) as tx:
        tx.lock_chain(run)
        tx.insert_event({"run_id": run, "name": "test.before", "at": utcnow()})
        tx.append_audit(run, actor="test", action="test.before", target="item:0")
        tx.insert_checkoff({"run_id": run, "task_id": "item:0", "action": "complete", "actor": "test", "at": utcnow()})
        try:
            with tx.savepoint():
                assert tx.events_named(run, "test.before"), "a read inside sees what waits"
                assert tx.audit(run)[-1]["action"] == "test.before"
                assert [c["task_id"] for c in tx.checkoffs(run)] == ["item:0"]
                tx.insert_event({"run_id": run, "name": "test.rolled_back", "at": utcnow()})
                tx.append_audit(run, actor="test", action="test.rolled_back", target="item:1")
                raise RuntimeError("this change fails")
        except RuntimeError:
            pass
    with store.read() as r:
        assert [e["name"] for e in r.events_named(run, "test.before")] == ["test.before"]
        assert r.events_named(run, "test.rolled_back") == []
        assert [c["task_id"] for c in r.checkoffs(run)] == ["item:0"]
    entries = engine.audit(run)
    assert entries["verified"]
    actions = [e["action"] for e in entries["entries"]]
    assert actions[-1] == "test.before" and "test.rolled_back" not in actions
