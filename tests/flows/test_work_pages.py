"""The runner's claims and records in pages: the tasks of a page started and ended in one
statement, with the same states, events, audit rows and counts as one statement a task."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from flows import states, work
from flows.steps import StepError
from flows.store import utcnow

N = 30


@pytest.fixture
def runbook(tmp_path):
    path = tmp_path / "pages.yaml"
    path.write_text(
        "id: pages\nname: Pages\nsteps:\n"
        + "".join(f"  - {{id: s{i:02d}, kind: wait, for: 0s, retries: 2}}\n" for i in range(N))
    )
    return path


def per_task(rs, tasks, to, *, expect, **values):
    """The path before pages: `transition` once a task."""
    return [t for t, own in tasks if states.transition(rs, t, to, expect=expect, **values, **own)]


def statements(store) -> list[str]:
    """The statements executed on the store from now on (an executemany counts once)."""
    seen: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda c, cursor, statement, *a: seen.append(statement))
    return seen


def count(seen: list[str], prefix: str) -> int:
    return sum(1 for s in seen if " ".join(s.split()).upper().startswith(prefix))


def drive(engine, store, runbook, operator) -> tuple[str, int, tuple[int, int]]:
    """A run of N due no-op steps claimed, then recorded: successes with outputs of their own, a
    retryable error and a failure among them. The UPDATEs of tasks of the claim; those of the
    record, and its inserts of events."""
    run = engine.start(runbook, "lab", operator)["id"]
    with store.transaction() as tx:
        assert tx.acquire_lease(run, "runner-p", utcnow() + timedelta(seconds=120), utcnow())
    seen = statements(store)
    claimed = work.claim(store, run, "runner-p")
    claims = count(seen, "UPDATE TASKS")
    assert sorted(job.task_id for job in claimed.jobs) == [f"s{i:02d}" for i in range(N)]
    results: list[tuple[Any, dict | None, StepError | None]] = []
    for i, job in enumerate(claimed.jobs):
        if i == 7:
            results.append((job, None, StepError("503 from the mirror", retryable=True)))
        elif i == 19:
            results.append((job, None, StepError("400: refused", retryable=False)))
        else:
            results.append((job, {"n": i, "said": f"item {i}"}, None))
    with store.transaction() as tx:  # a manager cancels one meanwhile: its result is not recorded
        states.transition(_View(tx, run), tx.task(run, claimed.jobs[3].task_id), "cancelled", reason="not needed")
    seen.clear()
    work.record(store, run, "runner-p", results)
    return run, claims, (count(seen, "UPDATE TASKS"), count(seen, "INSERT INTO EVENTS"))


class _View:
    """Just what `transition` needs of a RunState, for a manager's change outside the engine."""

    def __init__(self, tx, run_id):
        self.tx, self.run_id, self.now = tx, run_id, utcnow()
        self.changed: set = set()
        self.ended: list = []

    def event(self, *args, **kwargs):
        pass


def outcome(store, run) -> dict[str, Any]:
    with store.read() as r:
        tasks = {
            t["id"]: (t["state"], t["attempt"], t["outputs"], t["ended_by"], t["reason"], t["ended_at"] is not None)
            for t in r.tasks(run)
        }
        events = [(e["name"], e["task_id"], e["data"]) for e in r.events(run) if e["name"].startswith("task.")]
        audit = [
            (
                a["actor"],
                a["action"],
                a["target"],
                a["reason"],
                {k: v for k, v in (a["detail"] or {}).items() if k != "at"},
            )
            for a in r.audit(run)
            if a["action"].startswith("task.")
        ]
        counts = r.counts_by_step(run)
    return {"tasks": tasks, "events": events, "audit": audit, "counts": counts}


def test_a_page_of_claims_and_results_is_one_update_each_with_what_one_a_task_gave(
    engine, store, runbook, operator, monkeypatch
):
    paged, claims, records = drive(engine, store, runbook, operator)
    # The record: the successes before the retry, between it and the failure, after it (3), and
    # the retry and the failure one each (2); every event of the transaction in one insert,
    # written before its commit (store/runs.py).
    assert (claims, records) == (1, (5, 1))
    with monkeypatch.context() as m:
        m.setattr(work, "transition_many", per_task)
        single, claims_one, records_one = drive(engine, store, runbook, operator)
    assert (claims_one, records_one) == (N, (N - 1, 1))
    got, want = outcome(store, paged), outcome(store, single)
    assert got == want
    assert got["tasks"]["s03"][0] == "cancelled" and got["tasks"]["s07"][:2] == ("ready", 1)
    assert got["tasks"]["s19"][0] == "failed" and got["tasks"]["s00"][:3] == ("done", 1, {"n": 0, "said": "item 0"})
    names = [e[0] for e in got["events"] if e[1] is not None and e[0].startswith("task.")]
    assert names.count("task.done") == N - 3 and names.count("task.failed") == 1
    assert [a[1] for a in got["audit"]].count("task.start") == N


def test_pages_of_a_claim_are_a_statement_each(engine, store, runbook, operator, monkeypatch):
    from flows.store import task_pages

    monkeypatch.setattr(task_pages, "PAGE", 8)
    run = engine.start(runbook, "lab", operator)["id"]
    with store.transaction() as tx:
        assert tx.acquire_lease(run, "runner-p", utcnow() + timedelta(seconds=120), utcnow())
    seen = statements(store)
    claimed = work.claim(store, run, "runner-p")
    assert len(claimed.jobs) == N and count(seen, "UPDATE TASKS") == 4  # 8 + 8 + 8 + 6
    seen.clear()
    work.record(store, run, "runner-p", [(job, {"i": 1}, None) for job in claimed.jobs])
    # The tasks' events and the run's completion in one insert, before the commit.
    assert (count(seen, "UPDATE TASKS"), count(seen, "INSERT INTO EVENTS")) == (4, 1)
    assert engine.run(run)["counts"] == {"done": N}


def test_a_task_changed_meanwhile_is_left_as_it_is_and_the_others_written(engine, store, runbook, operator):
    run = engine.start(runbook, "lab", operator)["id"]
    with store.transaction() as tx:
        ready = tx.tasks(run, states=["ready"])
        states.transition(_View(tx, run), ready[1], "skipped", reason="a manager skipped it")
        view = _View(tx, run)
        own = [(t, {"attempt": t["attempt"] + 1}) for t in ready[:3]]
        written = states.transition_many(view, own, "running", expect=["ready"], event=False)
        assert [t["id"] for t in written] == [ready[0]["id"], ready[2]["id"]]
        assert tx.task(run, ready[1]["id"])["state"] == "skipped"
        assert [tx.task(run, t["id"])["attempt"] for t in written] == [1, 1]
        assert view.changed == {(ready[0]["step_id"], None), (ready[2]["step_id"], None)}


def test_a_batch_refuses_a_transition_the_table_does_not_have(engine, store, runbook, operator):
    run = engine.start(runbook, "lab", operator)["id"]
    with pytest.raises(states.IllegalTransition), store.transaction() as tx:
        ready = tx.tasks(run, states=["ready"])
        states.transition_many(_View(tx, run), [(t, {}) for t in ready], "waiting", expect=["ready"])


def test_a_page_of_results_keeps_the_outlines_of_the_outputs_it_writes(engine, store, runbook, operator):
    """Outputs written a page at a time keep their outline (flows/store/outlines.py) as one
    task's write does; the store fixture checks every outline against the outputs after it."""
    run = engine.start(runbook, "lab", operator)["id"]
    with store.transaction() as tx:
        assert tx.acquire_lease(run, "runner-p", utcnow() + timedelta(seconds=120), utcnow())
    claimed = work.claim(store, run, "runner-p")
    work.record(store, run, "runner-p", [(job, {"accounted": 0.5, "said": "x"}, None) for job in claimed.jobs])
    with store.read() as r:
        outline = r.task_outline(run, "s00", ["accounted"])
    assert outline is not None and outline["state"] == "done" and outline["outputs"] == {"accounted": 0.5}
