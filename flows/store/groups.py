"""Group commit: the changes queued on one serial key (a run) → one transaction, a savepoint
each, one commit. The first caller to arrive leads: it opens the transaction, runs the group's
prologue once (the run's chain lock), then every queued change in arrival order, each inside its
own savepoint — a change that raises is rolled back alone and its caller gets its own error —
and commits. Every caller of the group is answered only after that commit (or gets the commit's
error). Changes arriving meanwhile form the next group, led by the first of them.

The outcome is that of sequential transactions in arrival order (each change sees the ones
before it in the group); what is saved is one transaction, one chain lock and one fsync per
change, and the statements of what changes only add rows (events, check-offs, notifications,
audit rows, counts), written together before the commit. Should that final write or the commit
fail for a group of several, each of its changes is run again alone, in a transaction of its
own, so that a failure is only the caller's whose change causes it."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import Store
    from .tx import Tx

# A group takes at most this many changes: a leader is a caller too, and answers only after
# its group commits.
MAX_GROUP = 64


@dataclass
class _Job:
    work: Callable[[Tx], Any]
    turn: threading.Event = field(default_factory=threading.Event)  # answered, or asked to lead
    lead: bool = False
    finished: bool = False
    result: Any = None
    error: BaseException | None = None


@dataclass
class _Queue:
    jobs: collections.deque[_Job] = field(default_factory=collections.deque)
    leading: bool = False


class GroupCommit:
    """Per store: the queue of each serial key and who leads it."""

    def __init__(self, store: Store):
        self._store = store
        self._mutex = threading.Lock()
        self._queues: dict[str, _Queue] = {}

    def queued(self, serial: str) -> int:
        """Changes of `serial` waiting for a group (the running group's are no longer queued)."""
        with self._mutex:
            queue = self._queues.get(serial)
            return len(queue.jobs) if queue is not None else 0

    def submit(self, serial: str, prologue: Callable[[Tx], None], work: Callable[[Tx], Any]) -> Any:
        """Run `work(tx)` in the next group of `serial`, after `prologue(tx)` (once per group, outside
        any savepoint: a lock it takes holds for the whole group). Returns what `work` returned,
        once the group has committed; raises what `work` raised (its savepoint rolled back)."""
        job = _Job(work)
        with self._mutex:
            queue = self._queues.setdefault(serial, _Queue())
            queue.jobs.append(job)
            if not queue.leading:
                queue.leading = job.lead = True
        if not job.lead:
            job.turn.wait()
        if not job.finished:  # asked to lead the next group (its own change is in it)
            self._lead(serial, queue, prologue)
        if job.error is not None:
            raise job.error
        return job.result

    def _take(self, queue: _Queue, room: int) -> list[_Job]:
        with self._mutex:
            taken: list[_Job] = []
            while queue.jobs and len(taken) < room:
                taken.append(queue.jobs.popleft())
            return taken

    def _lead(self, serial: str, queue: _Queue, prologue: Callable[[Tx], None]) -> None:
        group: list[_Job] = []
        failure: BaseException | None = None
        try:
            with self._store.transaction(serial=serial) as tx:
                prologue(tx)
                # What queued while this leader waited for the writer joins the group, and so
                # does what queues while the group runs, up to MAX_GROUP.
                while len(group) < MAX_GROUP:
                    more = self._take(queue, MAX_GROUP - len(group))
                    if not more:
                        break
                    group.extend(more)  # before running them: an escaping error answers them too
                    for job in more:
                        _run_in_savepoint(tx, job)
        except BaseException as e:  # the prologue or the commit failed: nothing of the group is kept
            failure = e
            if not group:  # the prologue: the leader's own change (first in the queue) gets the error
                group.extend(self._take(queue, 1))
            elif len(group) > 1 and isinstance(e, Exception):
                failure = None
                for job in group:  # one by one, each in its own transaction
                    self._alone(serial, prologue, job)
        with self._mutex:
            if queue.jobs:
                nxt = queue.jobs[0]
                nxt.lead = True
                nxt.turn.set()  # it leads the next group
            else:
                queue.leading = False
                if self._queues.get(serial) is queue:
                    del self._queues[serial]
        for job in group:
            if failure is not None:
                job.error, job.result = failure, None
            job.finished = True
            job.turn.set()

    def _alone(self, serial: str, prologue: Callable[[Tx], None], job: _Job) -> None:
        job.result = job.error = None
        try:
            with self._store.transaction(serial=serial) as tx:
                prologue(tx)
                _run_in_savepoint(tx, job)
        except Exception as e:
            job.error, job.result = e, None


def _run_in_savepoint(tx: Tx, job: _Job) -> None:
    """One change in its own savepoint: an error rolls it back alone and is its caller's."""
    try:
        with tx.savepoint():
            job.result = job.work(tx)
    except Exception as e:
        job.error = e
