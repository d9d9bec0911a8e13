"""A runbook asks for a loan: the `loan` step files the request when it becomes actionable (on
both sites' chains, as the run), nobody checks it off, it ends when the lending site's manager
accepts (done: the loan in its outputs, what needs it goes on) or refuses (failed, its owner and
the managers told why); a lent block ending raises a `coverage.gap` when the borrower is not
covered by its own people after it."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

import pytest

from flows import work
from flows.actors import Actor
from flows.errors import EngineError
from flows.store import utcnow

BACKUP_MANAGER = Actor("ann", "manager", sites=frozenset({"desk_backup"}))
COVER = """id: desk_loan
name: Keep the phones staffed with the backup desk
steps:
  - id: onsite
    kind: manual
    owner: team:ops
    fields:
      people: {type: people, required: true, options: "${{ site.staff }}"}
  - id: cover
    kind: loan
    owner: team:ops
    from: desk_backup
    queue: phones
    agents: 5
    start: 0s
    end: 2h
    reason: "${{ site.name }} is short while its agents come live"
  - id: confirm
    kind: manual
    needs: [cover]
    owner: team:ops
"""


def look(store, run: str) -> None:
    """The runner's look at the clock (the lease, then a claim that runs nothing)."""
    with store.transaction() as tx:
        tx.acquire_lease(run, "runner-l", utcnow() + timedelta(seconds=120), utcnow())
    assert work.claim(store, run, "runner-l").jobs == []


def _t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def started(engine, operator, write_runbook):
    engine.lockdown("desk", operator)
    run = engine.start(write_runbook(COVER), "desk", operator)["id"]
    engine.complete(run, "onsite", operator, fields={"people": [f"D{i:04d}" for i in range(2, 17)]})  # 15 of 20
    return run


def test_a_loan_step_files_its_request_and_ends_when_the_lender_accepts(engine, operator, store, started):
    run = started
    cover = next(t for t in engine.tasks(run) if t["step"] == "cover")
    assert cover["state"] == "ready" and cover["outputs"]["state"] == "requested"
    (loan,) = engine.loans(site="desk_backup")
    assert loan["id"] == cover["outputs"]["loan"] and loan["agents"] == 5 and loan["state"] == "requested"
    assert loan["requested_by"] == f"run:{run}" and loan["from_site"] == "desk_backup"
    assert _t(loan["end"]) - _t(loan["start"]) == timedelta(hours=2), "calendar hours, never scaled"
    with pytest.raises(EngineError, match="task cover is ready, not waiting"):
        engine.complete(run, "cover", operator)
    look(store, run)  # nothing decided yet: it stays ready
    assert next(t for t in engine.tasks(run) if t["step"] == "cover")["state"] == "ready"
    engine.accept_loan(loan["id"], BACKUP_MANAGER)
    look(store, run)
    tasks = {t["step"]: t for t in engine.tasks(run)}
    assert tasks["cover"]["state"] == "done" and tasks["cover"]["outputs"]["state"] == "active"
    assert tasks["cover"]["outputs"]["decided_by"] == "ann" and tasks["confirm"]["state"] == "waiting"
    with store.read() as r:
        for chain in ("site:desk", "site:desk_backup"):
            assert ("loan.request", f"run:{run}") in [(e["action"], e["actor"]) for e in r.audit(chain)]
        assert "loan.requested" in [e["action"] for e in r.audit(run)]
    # 15 of the desk's own + 5 lent cover the 20 required while the block lasts; after it, a gap
    # (the runner looks 24 h ahead), told once, beginning where the lent block ends.
    rows = engine.coverage("desk", hours=6)["intervals"]
    end = _t(loan["end"])
    lent = [r for r in rows if _t(r["start"]) < end]
    after = [r for r in rows if _t(r["start"]) >= end]
    assert lent and all(r["staffed"]["lent_in"] == 5 and r["gap"] == 0 for r in lent if r["required"] == 20)
    assert after and all(r["staffed"]["total"] == 15 and r["gap"] == 5 for r in after if r["required"] == 20)
    with store.read() as r:
        gaps = [e["data"] for e in r.events_named(run, "coverage.gap")]
    ending = [g for g in gaps if _t(g["intervals"][0]) == _t(after[0]["start"])]
    assert len(ending) == 1 and ending[0]["text"].endswith(": 15 staffed, 20 required"), gaps
    look(store, run)
    with store.read() as r:
        assert len(r.events_named(run, "coverage.gap")) == len(gaps), "told once"
    backup = engine.coverage("desk_backup", hours=6)["intervals"]
    assert [r["staffed"]["lent_out"] for r in backup if _t(r["start"]) < end] == [5] * len(lent)


def test_a_refused_loan_fails_the_step_and_its_owner_and_the_managers_hear_why(engine, store, started):
    run = started
    (loan,) = engine.loans(site="desk_backup")
    engine.refuse_loan(loan["id"], BACKUP_MANAGER, reason="our own line is short today")
    look(store, run)
    cover = next(t for t in engine.tasks(run) if t["step"] == "cover")
    assert cover["state"] == "failed"
    assert cover["reason"] == "desk_backup refused the loan of 5 agents: our own line is short today"
    with store.read() as r:
        told = [m for m in r.outbox(run_id=run) if m["event"] == "task.failed"]
    assert {m["recipient"] for m in told} >= {"person:D0001"}, "the lead of the owner team"
    assert all("our own line is short today" in m["message"]["text"] for m in told)


def test_a_loan_that_cannot_be_filed_fails_saying_why(engine, operator, store, write_runbook):
    run = engine.start(write_runbook(COVER), "desk", operator)["id"]  # no lockdown of the desk
    cover = next(t for t in engine.tasks(run) if t["step"] == "cover")
    assert cover["state"] == "failed"
    assert (
        cover["reason"]
        == 'the loan request could not be filed: site "desk" is not in lockdown: it has nothing to borrow for'
    )
    assert engine.loans(site="desk_backup") == []
