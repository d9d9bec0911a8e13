"""Task counts per run, step and state, and tasks done per run, step and minute of run time
(mixins of Reader and Tx): every task write of a transaction adds its change to a tally kept in
memory (RunWrites), written before the commit as one upsert per row touched; reads of the counts
inside a writer write the tally first. The run's counts, its objectives' values and burn-up
series and `/metrics` read these rows instead of task rows."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Float, bindparam, cast, func, select

from .base import Queries
from .schema import runs, task_counts, task_done_minutes

Key = tuple[str, str, str]  # run, step, state
MinuteKey = tuple[str, str, int]  # run, step, minute of run time


def answered_key(step_id: str) -> str:
    """The row key under which a roll call's first answers per minute are kept beside the done
    tasks ("#" is never part of a step id)."""
    return f"{step_id}#answered"


def done_minute(at: datetime, time_scale: float) -> int:
    """The minute of run time a task ended in: floor(epoch seconds × time_scale / 60)."""
    return math.floor(at.timestamp() * time_scale / 60)


def done_minute_of(head: Mapping[str, Any] | None, ended_at: datetime) -> int:
    """`done_minute` of a task of the run `head` (its row as read) that ended at `ended_at`, as stored."""
    return done_minute(ended_at.replace(tzinfo=UTC), float(head["time_scale"] or 1) if head else 1.0)


_BY_STEP = select(task_counts.c.step_id, task_counts.c.state, task_counts.c.n).where(
    task_counts.c.run_id == bindparam("run_id"), task_counts.c.n != 0
)


_DONE_MINUTES = (
    select(task_done_minutes.c.minute, task_done_minutes.c.n)
    .where(
        task_done_minutes.c.run_id == bindparam("run_id"),
        task_done_minutes.c.step_id == bindparam("step_id"),
        task_done_minutes.c.n != 0,
    )
    .order_by(task_done_minutes.c.minute)
)


_BUCKETS: dict[str, Any] = {}


def _buckets(dialect: str) -> Any:
    """(bucket, tasks done in it) of a run's step, the bucket of a minute computed by the
    database as Python would: max(int((minute × 60 / time_scale − origin) / bucket_s), 0),
    the same double operations in the same order (floor is truncation from 0 up). Built once."""
    stmt = _BUCKETS.get(dialect)
    if stmt is None:
        t = task_done_minutes
        x = (t.c.minute * 60 / bindparam("scale", type_=Float) - bindparam("origin", type_=Float)) / bindparam(
            "bucket", type_=Float
        )
        if dialect == "postgresql":
            b: Any = func.greatest(cast(func.floor(x), BigInteger), 0)
        else:  # SQLite: CAST truncates towards 0; its max() of two values is the larger
            b = func.max(cast(x, BigInteger), 0)
        b = b.label("b")
        stmt = (
            select(b, func.sum(t.c.n))
            .where(t.c.run_id == bindparam("run_id"), t.c.step_id == bindparam("step_id"), t.c.n != 0)
            .group_by(b)
            .order_by(b)
        )
        _BUCKETS[dialect] = stmt
    return stmt


class CountReads(Queries):
    def counts_by_step(self, run_id: str) -> dict[str, dict[str, int]]:
        """step → state → tasks (states with none left out)."""
        out: dict[str, dict[str, int]] = {}
        for step_id, state, n in self.conn.execute(_BY_STEP, {"run_id": run_id}):
            out.setdefault(step_id, {})[state] = int(n)
        return out

    def done_minutes(self, run_id: str, step_id: str) -> list[tuple[int, int]]:
        """(minute of run time, tasks of the step done in it), oldest first."""
        stmt = _DONE_MINUTES
        rows = self.conn.execute(stmt, {"run_id": run_id, "step_id": step_id})
        return [(int(m), int(n)) for m, n in rows]

    def done_buckets(
        self, run_id: str, step_id: str, origin: float, bucket_s: float, time_scale: float
    ) -> list[tuple[int, int]]:
        """(bucket, tasks of the step done in it), the buckets of `bucket_s` seconds after
        `origin` (epoch seconds; earlier minutes fall in the first), a minute's count at its
        start: at most one row a bucket, however many minutes saw a task done."""
        params = {
            "run_id": run_id,
            "step_id": step_id,
            "origin": float(origin),
            "bucket": float(bucket_s),
            "scale": float(time_scale),
        }
        return [(int(b), int(n)) for b, n in self.conn.execute(_buckets(self.conn.dialect.name), params)]

    def open_tasks_by_state(self) -> dict[str, int]:
        """Tasks of running runs by state (ended runs' tasks never change)."""
        stmt = (
            select(task_counts.c.state, func.sum(task_counts.c.n))
            .select_from(task_counts.join(runs, runs.c.id == task_counts.c.run_id))
            .where(runs.c.state == "running", task_counts.c.n != 0)
            .group_by(task_counts.c.state)
        )
        return {state: int(n) for state, n in self.conn.execute(stmt)}


class CountWrites(CountReads):
    _task_deltas: dict[Key, int]
    _done_deltas: dict[MinuteKey, int]
    _stored_counts: dict[str, dict[str, dict[str, int]]]  # a run's rows as read, until written

    def count_task(self, run_id: str, step_id: str, old: str | None, new: str | None) -> None:
        """A task of the step moved from `old` to `new` (None: created, or removed)."""
        if old == new:
            return
        if old is not None:
            self._task_deltas[(run_id, step_id, old)] = self._task_deltas.get((run_id, step_id, old), 0) - 1
        if new is not None:
            self._task_deltas[(run_id, step_id, new)] = self._task_deltas.get((run_id, step_id, new), 0) + 1

    def count_done(self, run_id: str, step_id: str, minute: int, delta: int) -> None:
        """A task of the step became done in that minute of run time (+1), or left done (-1)."""
        key = (run_id, step_id, minute)
        self._done_deltas[key] = self._done_deltas.get(key, 0) + delta

    def flush_counts(self) -> None:
        self._stored_counts.clear()
        deltas = {k: d for k, d in self._task_deltas.items() if d}
        self._task_deltas.clear()
        if deltas:
            rows = [{"run_id": r, "step_id": s, "state": st, "n": d} for (r, s, st), d in sorted(deltas.items())]
            self.conn.execute(_upsert(self.dialect, task_counts, "state"), rows)
        done = {k: d for k, d in self._done_deltas.items() if d}
        self._done_deltas.clear()
        if done:
            rows = [{"run_id": r, "step_id": s, "minute": m, "n": d} for (r, s, m), d in sorted(done.items())]
            self.conn.execute(_upsert(self.dialect, task_done_minutes, "minute"), rows)

    def done_minutes(self, run_id: str, step_id: str) -> list[tuple[int, int]]:
        out = dict(super().done_minutes(run_id, step_id))
        for (run, step, minute), d in self._done_deltas.items():
            if run == run_id and step == step_id and d:
                out[minute] = out.get(minute, 0) + d
        return sorted((m, n) for m, n in out.items() if n)

    def done_buckets(
        self, run_id: str, step_id: str, origin: float, bucket_s: float, time_scale: float
    ) -> list[tuple[int, int]]:
        self.flush_counts()  # the database adds up the minutes: this transaction's go in first
        return super().done_buckets(run_id, step_id, origin, bucket_s, time_scale)

    def counts_by_step(self, run_id: str) -> dict[str, dict[str, int]]:
        """The stored counts with this transaction's tally added (not written: a check-off that
        reads them writes its tally once, at its commit)."""
        stored = self._stored_counts.get(run_id)
        if stored is None:  # read once per transaction: only this transaction's flush changes them
            stored = self._stored_counts[run_id] = super().counts_by_step(run_id)
        out = {step: dict(states) for step, states in stored.items()}
        for (run, step, state), d in self._task_deltas.items():
            if run == run_id and d:
                states = out.setdefault(step, {})
                states[state] = states.get(state, 0) + d
                if not states[state]:
                    del states[state]
        return {step: states for step, states in out.items() if states}

    def open_tasks_by_state(self) -> dict[str, int]:
        self.flush_counts()
        return super().open_tasks_by_state()


_UPSERTS: dict[tuple[str, str], Any] = {}


def _upsert(dialect: str, table: Any, last: str) -> Any:
    """INSERT … ON CONFLICT (run, step, <last>) DO UPDATE SET n = n + the delta, built once."""
    stmt = _UPSERTS.get((dialect, table.name))
    if stmt is None:
        from sqlalchemy.dialects import postgresql, sqlite

        ins: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
        stmt = ins.on_conflict_do_update(
            index_elements=[table.c.run_id, table.c.step_id, table.c[last]],
            set_={"n": table.c.n + ins.excluded.n},
        )
        _UPSERTS[(dialect, table.name)] = stmt
    return stmt
