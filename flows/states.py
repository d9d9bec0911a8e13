"""Task and run states as data: the states, the transitions each step kind allows (a table),
and the one function that changes a task's state (`transition`; `transition_many` for a page
of tasks at once, the runner's) or a run's (`transition_run`),
each with its event (`task.done`, `task.failed`, `task.cancelled`; `task.done` with the state
for skipped and rejected); the caller's audit row goes in the same transaction. Nothing else writes
a state (tests/flows/test_states.py scans the source for other writers).

Tasks: pending → ready → running → done (automated); pending → waiting → done (human); also
failed, rejected, skipped, cancelled. Reopenings: failed → pending (a manager's retry),
skipped → pending (revived when what skipped it is retried), cancelled → pending (a person
changed their roll-call answer back). Runs: running → completed | failed | cancelled, and
failed → running (a manager retries a failed task).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .runview import RunView

STATES = ("pending", "ready", "running", "waiting", "done", "failed", "rejected", "skipped", "cancelled")
TERMINAL = frozenset({"done", "failed", "rejected", "skipped", "cancelled"})
ACTIVE = frozenset({"waiting", "ready", "running"})  # actionable: someone or something works on it
OPEN = frozenset({"pending", *ACTIVE})
UNSUCCESSFUL = frozenset({"failed", "rejected", "skipped", "cancelled"})

# Every kind: a task can be skipped, failed or cancelled before it ends, and reopened.
_COMMON = frozenset(
    {
        ("pending", "skipped"),  # condition false, or its upstream ended without success
        ("pending", "failed"),  # its `if` could not be evaluated
        ("pending", "cancelled"),
        ("failed", "pending"),  # retry
        ("failed", "skipped"),  # a manager skips a failed task
        ("skipped", "pending"),  # revived: what skipped it is retried
        ("cancelled", "pending"),  # a changed roll-call answer brings the item back
    }
)
# People act on it: it waits for them, then ends.
_HUMAN = frozenset(
    {
        ("pending", "waiting"),
        ("waiting", "done"),
        ("waiting", "failed"),  # on_timeout: fail
        ("waiting", "skipped"),  # on_timeout: skip, or a manager's skip
        ("waiting", "cancelled"),
    }
)
# The runner executes it (through Prefect), retrying with backoff.
_RUNNER = frozenset(
    {
        ("pending", "ready"),
        ("ready", "running"),
        ("ready", "failed"),  # its parameters could not be rendered
        ("ready", "skipped"),
        ("ready", "cancelled"),
        ("running", "done"),
        ("running", "failed"),
        ("running", "ready"),  # a retryable error: scheduled again
        ("running", "skipped"),
        ("running", "cancelled"),
    }
)
# The engine does it in the transaction that makes it actionable.
_ENGINE = frozenset({("pending", "ready"), ("ready", "done"), ("ready", "skipped"), ("ready", "cancelled")})

TRANSITIONS: Mapping[str, frozenset[tuple[str, str]]] = {
    "manual": _COMMON | _HUMAN,
    "approval": _COMMON | _HUMAN | {("waiting", "rejected")},
    "muster": _COMMON | _HUMAN,
    "http": _COMMON | _RUNNER,
    "wait": _COMMON | _RUNNER,
    # A shift plan is solved by the runner; a change of its supply or a declined shift re-plans it.
    "shifts": _COMMON | _RUNNER | {("done", "ready")},
    "grant": _COMMON | _RUNNER,
    # Welfare check-ins (flows/checkins.py): ready while their rounds go on, done by the engine after the last.
    "checkin": _COMMON | _RUNNER | _ENGINE,
    # A grant's re-certification (flows/kinds/grant.py): created waiting by the revoker, approved or rejected.
    "grant_review": _COMMON | _HUMAN | {("waiting", "rejected")},
    "notify": _COMMON | _ENGINE,
    # A loan request (flows/kinds/loan.py): filed when ready, ended by the runner's look at the loan.
    "loan": _COMMON | _RUNNER | {("ready", "done")},
    # An item is taken at once (done), or waits for the hand-over, or stays ready while the pool is empty.
    "allocate": _COMMON | _ENGINE | {("ready", "waiting"), ("ready", "failed")} | (_HUMAN - {("pending", "waiting")}),
    # A team's call task for a roll call (flows/call_tasks.py): created waiting, ends done or cancelled.
    "calls": _COMMON | _HUMAN,
}
# What a task may be created as: pending, or already ended (a fan-out whose items could not
# be computed is one failed or skipped row), or waiting (an ad-hoc task).
INITIAL = frozenset({"pending", "waiting", "failed", "skipped"})

RUN_STATES = ("running", "completed", "failed", "cancelled")
RUN_TRANSITIONS = frozenset(
    {("running", "completed"), ("running", "failed"), ("running", "cancelled"), ("failed", "running")}
)


def task_id_of(step_id: str, item_key: str | None) -> str:
    """A task's id: the step's id, or `step:item` for an item of a fan-out."""
    return step_id if item_key is None else f"{step_id}:{item_key}"


class IllegalTransition(Exception):
    """A transition the table does not allow: a bug in the engine, never a user's mistake."""


def allowed(kind: str, old: str, new: str) -> bool:
    return (old, new) in TRANSITIONS.get(kind, frozenset())


def transition(
    rs: RunView,
    task: Mapping[str, Any],
    to: str,
    *,
    reason: str | None = None,
    by: str | None = None,
    outputs: Mapping[str, Any] | None = None,
    note: str | None = None,
    expect: Iterable[str] | None = None,
    event: bool = True,
    digest: bool = False,
    **values: Any,
) -> bool:
    """Change a task's state (if it is still in `expect`, default its state as read), with its
        event; the transition must be in the table for the task's kind. Reopening (to pending)
        clears the end. `digest`: its owner hears of it in one message with others (a cancelled
    run), so its event says so. False when the task was changed meanwhile (nothing written)."""
    expected = list(expect) if expect else [task["state"]]
    _check(task, expected, to)
    changes = _changes(rs, to, reason, by, values)
    if outputs is not None:
        changes["outputs"] = dict(outputs)
    if note is not None:
        changes["note"] = note
    if not rs.tx.write_task_state(rs.run_id, task["id"], expected, to, **changes):
        return False
    _changed(rs, task, to, reason)
    told = _event_of(task, to, reason, digest) if event else None
    if told is not None:
        rs.event(told[0], told[1], **told[2])
    return True


def transition_many(
    rs: RunView,
    tasks: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]],
    to: str,
    *,
    expect: Iterable[str],
    reason: str | None = None,
    by: str | None = None,
    event: bool = True,
    **values: Any,
) -> list[Mapping[str, Any]]:
    """`transition` of many tasks from the same `expect` states, each (task, its own values: the
    same columns for all, such as `outputs` or `attempt`), written in one statement a page, not
    one a task; their events in the tasks' order (written with the transaction's others). The
    tasks written: one changed meanwhile is left as it is."""
    expected = list(expect)
    for task, _ in tasks:
        _check(task, expected, to)
    own = {task["id"]: dict(mine) for task, mine in tasks}
    if len(own) < len(tasks):
        raise ValueError("a task is written once a batch")
    written = rs.tx.write_task_states(rs.run_id, own, expected, to, **_changes(rs, to, reason, by, values))
    done = [task for task, _ in tasks if task["id"] in written]
    for task in done:
        _changed(rs, task, to, reason)
    if event:
        for task in done:
            told = _event_of(task, to, reason, False)
            if told is not None:
                rs.event(told[0], told[1], **told[2])
    return done


def _check(task: Mapping[str, Any], expected: list[str], to: str) -> None:
    for old in expected:
        if not allowed(task["kind"], old, to):
            raise IllegalTransition(f"task {task['id']} ({task['kind']}): {old} → {to} is not a transition")


def _changes(rs: RunView, to: str, reason: str | None, by: str | None, values: Mapping[str, Any]) -> dict[str, Any]:
    """The columns a transition to `to` writes besides the state: the reason, the end (set when
    it ends, cleared when it reopens), the caller's values."""
    changes: dict[str, Any] = {"reason": reason, **values}
    if to in TERMINAL:
        changes.update(ended_at=rs.now, ended_by=by)
    elif to == "pending":
        changes.update(ended_at=None, ended_by=None)
    return changes


def _changed(rs: RunView, task: Mapping[str, Any], to: str, reason: str | None) -> None:
    """What the settle step learns of a task's write."""
    rs.changed.add((task["step_id"], task["item_key"]))
    if to in UNSUCCESSFUL:
        rs.ended.append({**task, "state": to, "reason": reason})


def _event_of(
    task: Mapping[str, Any], to: str, reason: str | None, digest: bool
) -> tuple[str, str, dict[str, Any]] | None:
    """The event of a task's transition to `to`, if it has one: (name, task, data)."""
    if to in ("done", "failed"):
        return f"task.{to}", task["id"], {"state": to}
    if to == "cancelled":  # `was`: an owner is told only of what had become theirs
        extra = {"digest": True} if digest else {}
        return "task.cancelled", task["id"], {"state": to, "reason": reason, "was": task["state"], **extra}
    if to in UNSUCCESSFUL:
        return "task.done", task["id"], {"state": to, "reason": reason}
    return None


def create(rs: RunView, rows: list[dict[str, Any]]) -> None:
    """New task rows, in a state a task may start in; pending ones are evaluated by the settle
    step of this transaction (flows/machine.settle)."""
    for row in rows:
        if row["state"] not in INITIAL or row["kind"] not in TRANSITIONS:
            raise IllegalTransition(f"task {row['id']} ({row['kind']}) cannot start as {row['state']}")
    rs.tx.insert_tasks(rows)
    rs.created.extend(r for r in rows if r["state"] == "pending")


def transition_run(rs: RunView, to: str, *, reason: str | None = None, **values: Any) -> None:
    """Change the run's state (ended_at set or cleared); the event is the caller's to send,
    with what it knows (a cancellation's reason, a completion's count)."""
    old = rs.run["state"]
    if (old, to) not in RUN_TRANSITIONS:
        raise IllegalTransition(f"run {rs.run_id}: {old} → {to} is not a transition")
    ended = None if to == "running" else rs.now
    rs.tx.write_run_state(rs.run_id, old, to, ended_at=ended, **({"reason": reason} if reason else {}), **values)
    rs.run["state"] = to
    if rs.run.get("drill") and to != "running":  # the last run of a drill that was stood down: its stock copy ends
        lockdown = rs.run.get("lockdown_id")
        rs.tx.close_sandbox(str(lockdown or rs.run_id), lockdown, ending=rs.run_id)
