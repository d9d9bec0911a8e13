"""A change to one run: in the run's group commit (its transaction holding the run's chain lock,
a savepoint per change: operations on a run are serialised, a task is completed at most once,
the loser of a race gets a Conflict), the change itself, then the one settle step
(flows/machine.settle), the answer, the Idempotency-Key's record; the commit of the group, and
this process's runners woken. Every change to a run goes through `change_run` (or `start_run`
for a new one)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from runbooks.plan import Plan

from . import idempotency, machine, signals
from .errors import Conflict, NotFound
from .rules import unknown_run
from .runstate import RunState, plan_of
from .states import transition_run
from .store import Store, Tx, utcnow

T = TypeVar("T")
Reply = Callable[[RunState], Any]  # builds the answer after the settle step
_RAISE: Any = object()


class LeaseLost(Exception):
    """Another runner owns the run now: stop working on it."""


def change_run(
    store: Store,
    run_id: str,
    actor: str,
    change: Callable[[RunState], Reply | None],
    *,
    idem: idempotency.Idem | None = None,
    reopen: bool = False,
    owner: str | None = None,
    timed: bool = False,
    if_ended: Any = _RAISE,
) -> Any:
    """Apply `change` to a running run, in the next group commit of the run (one transaction for
    the changes queued on it, this one in a savepoint of its own; an error rolls back only this
    change and is raised here). `reopen`: a failed run runs again (a
    manager retries); `owner`: only while this runner holds the lease (else LeaseLost);
    `if_ended`: returned, instead of a Conflict, when the run is not running."""

    def prologue(tx: Tx) -> None:  # once per group, outside the savepoints: the lock holds for all
        tx.lock_chain(run_id)
        tx.notify_run(run_id)  # other processes' runners: on commit, never on a rollback

    def work(tx: Tx) -> Any:
        first = idempotency.seen(tx, idem)
        if first is not None:
            return first
        run = tx.run_head(run_id)
        if run is None:
            raise NotFound(unknown_run(tx, run_id))
        rs = RunState(tx, run, plan_of(run, tx), utcnow(), actor, idem=idem, timed=timed)
        if run["state"] == "failed" and reopen:
            transition_run(rs, "running")
            rs.audit("run.reopen", run_id, "a failed task is retried")
        if run["state"] != "running":
            if if_ended is not _RAISE:
                return if_ended
            raise Conflict(f"run {run_id} is {run['state']}; nothing can change in it")
        if owner is not None and run["lease_owner"] != owner:
            raise LeaseLost(run_id)
        return _settle(rs, change(rs))

    # Queued with the other changes of the run: one transaction, a savepoint each, one commit
    # (flows/store/groups.py); answered once the commit that holds this change is done.
    result = store.groups.submit(run_id, prologue, work)
    signals.publish(run_id)  # committed: wake this process's runner
    return result


def start_run(tx: Tx, run: dict[str, Any], plan: Plan, actor: str, audit: dict[str, Any]) -> None:
    """A new run in the caller's transaction: its row, audit and event, its tasks, and the
    settle step (human tasks ready at the start are waiting when this commits)."""
    tx.insert_run(run)
    tx.lock_chain(run["id"])
    tx.notify_run(run["id"])
    rs = RunState(tx, run, plan, run["started_at"], actor)
    rs.audit("run.start", run["id"], **audit)
    rs.event("run.started", runbook=plan.runbook_id, site=plan.site.id, drill=run["drill"])
    machine.create_tasks(rs)
    machine.advance(rs)  # at start every step, in dependency order
    _settle(rs, None)


def _settle(rs: RunState, reply: Reply | None) -> Any:
    machine.settle(rs)
    result = reply(rs) if reply is not None else None
    idempotency.remember(rs.tx, rs.idem, result)
    return result
