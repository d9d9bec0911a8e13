"""The SQL of the dashboard (a mixin of Reader): aggregates and short lists, so a page of a
run with 10,000 tasks reads a few hundred rows, not 10,000."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select

from .base import Queries
from .counts import CountWrites, answered_key
from .schema import lockdowns, tasks

_ACTIVE = ("waiting", "ready", "running")
_LIST_COLUMNS = [c for c in tasks.c if c.name not in ("item",)]

# The board's statements, built once (building one costs more Python time than running it on
# SQLite, and the board runs a score of them at every change of a run).
_RUN = tasks.c.run_id == bindparam("run_id")
_OLDEST: dict[int, Any] = {}


def _oldest(n: int) -> Any:
    """SELECT (the earliest actionable time of the tasks of step i in state i) for i < n: one
    probe each of `(run_id, state, step_id, actionable_at)`, built once per n."""
    stmt = _OLDEST.get(n)
    if stmt is None:
        stmt = select(
            *(
                select(func.min(tasks.c.actionable_at))
                .where(_RUN, tasks.c.state == bindparam(f"state{i}"), tasks.c.step_id == bindparam(f"step{i}"))
                .scalar_subquery()
                for i in range(n)
            )
        )
        _OLDEST[n] = stmt
    return stmt


_OVERDUE = (_RUN, tasks.c.state.in_(_ACTIVE), tasks.c.due_at < bindparam("now"))
_FAILED = (_RUN, tasks.c.state == "failed")
_HELD = (_RUN, tasks.c.state == "ready", tasks.c.kind.in_(bindparam("kinds", expanding=True)))
_OVERDUE_N = select(func.count()).select_from(tasks).where(*_OVERDUE)
# The columns of the board's task lists: what a task's JSON shows (flows/views.task_json), no more.
_SHOWN = [
    tasks.c[name]
    for name in (
        "id", "step_id", "item_key", "title", "titles", "kind", "state", "owner", "adhoc",
        "actionable_at", "due_at", "ended_at", "ended_by", "outputs", "note", "reason",
    )
]  # fmt: skip
_OVERDUE_LIST = select(*_SHOWN).where(*_OVERDUE).order_by(tasks.c.due_at).limit(bindparam("limit"))
_BLOCKED = [
    (
        select(func.count()).select_from(tasks).where(*where),
        select(*_SHOWN).where(*where).order_by(tasks.c.pk).limit(bindparam("limit")),
    )
    for where in (_FAILED, _HELD)
]

# A roll call's first answers per minute of run time, kept per run and roll call with the newest
# answer's row number they were read after: answers are only ever added (a new row, a larger
# number), so an unchanged number means unchanged minutes. Their buckets are added up here, as
# the database does (`buckets_of`); the time a series spans moves with the clock, its minutes
# only with an answer. Kept from committed reads only.
_KEPT_ANSWERS: dict[tuple[int, str, str], tuple[Any, int, list[tuple[int, int]]]] = {}
_KEPT_SERIES = 256
_KEPT_LOCK = threading.Lock()


def buckets_of(
    minutes: Sequence[tuple[int, int]], origin: float, bucket_s: float, time_scale: float
) -> list[tuple[int, int]]:
    """(bucket, count) of kept (minute, count) rows, oldest first: what `done_buckets` has the
    database compute, with the same double operations in the same order, each minute's
    max(int((minute × 60 / time_scale − origin) / bucket_s), 0) (numpy: IEEE doubles as Python's,
    truncation towards 0 as int(); minutes ascend, so their buckets do)."""
    if not minutes:
        return []
    import numpy as np  # here: a process that never draws a board (the CLI) does not load it

    rows = np.asarray(minutes, dtype=np.int64)
    b = np.maximum(((rows[:, 0] * 60) / float(time_scale) - float(origin)) / float(bucket_s), 0).astype(np.int64)
    first = np.flatnonzero(np.concatenate(([True], b[1:] != b[:-1])))
    sums = np.add.reduceat(rows[:, 1], first)
    return [(int(k), int(n)) for k, n in zip(b[first].tolist(), sums.tolist(), strict=True)]


class BoardReads(Queries):
    def step_stats(self, run_id: str) -> dict[str, dict[str, tuple[int, datetime | None]]]:
        """step → state → (tasks, the earliest time one of them became actionable): the counts
        kept per step and state (store/counts.py), the earliest times read for the active
        states only (what the funnel's "stuck since" shows), not a count over every task row."""
        counts = self.counts_by_step(run_id)  # type: ignore[attr-defined]
        # One index probe per (step, active state) the counts say has tasks, not a scan of every
        # active task grouped by step and state: the same minimum of the same rows.
        pairs = sorted((step_id, state) for step_id, states in counts.items() for state in states if state in _ACTIVE)
        since = {}
        if pairs:
            params = {"run_id": run_id}
            for i, (step_id, state) in enumerate(pairs):
                params[f"step{i}"], params[f"state{i}"] = step_id, state
            since = dict(zip(pairs, self.conn.execute(_oldest(len(pairs)), params).one(), strict=True))
        return {
            step_id: {state: (n, since.get((step_id, state))) for state, n in states.items()}
            for step_id, states in counts.items()
        }

    def overdue_tasks(self, run_id: str, now: datetime, limit: int) -> tuple[int, list[dict[str, Any]]]:
        """Active tasks past their due time: how many, and the first `limit` due (the columns a
        task's JSON shows)."""
        params = {"run_id": run_id, "now": now, "limit": limit}
        n = self.conn.execute(_OVERDUE_N, params).scalar_one()
        rows = self.fetch_all(_OVERDUE_LIST, params) if limit and n else []
        return int(n), rows

    def blocked_tasks(self, run_id: str, held_kinds: Sequence[str], limit: int) -> tuple[int, list[dict[str, Any]]]:
        """Failed tasks, and tasks held before anyone can act on them (waiting for stock): how
        many, and the first `limit` (the columns a task's JSON shows)."""
        params: dict[str, Any] = {"run_id": run_id, "kinds": list(held_kinds)}
        counts = [int(self.conn.execute(count, params).scalar_one()) for count, _ in _BLOCKED]
        rows: list[dict[str, Any]] = []
        for n, (_, listed) in zip(counts, _BLOCKED, strict=True):
            if n and len(rows) < limit:  # none counted: none to list
                rows += self.fetch_all(listed, {**params, "limit": limit - len(rows)})
        return sum(counts), rows

    def progress_buckets(
        self, run_id: str, step_id: str, start: datetime, bucket_s: float, *, answers: bool, time_scale: float = 1.0
    ) -> list[tuple[int, int]]:
        """An objective's progress over time, counted per bucket of `bucket_s` seconds after
        `start`: tasks of a step done (by their end), or people who answered a roll call (by their
        first answer), from the counts per minute of run time kept by the store (store/counts.py;
        a minute's count falls at its start), added up per bucket by the database: one row a
        bucket, however many minutes, tasks or people."""
        if not answers:
            return self.done_buckets(run_id, step_id, start.timestamp(), bucket_s, time_scale)  # type: ignore[attr-defined]
        if isinstance(self, CountWrites):  # a writer sees its own uncommitted answers: not kept
            return self.done_buckets(run_id, answered_key(step_id), start.timestamp(), bucket_s, time_scale)
        # The newest answer is read first: an answer committed after it is seen at the next read.
        newest = self.last_answer_pk(run_id, step_id)  # type: ignore[attr-defined]
        engine, key = self.conn.engine, (id(self.conn.engine), run_id, step_id)
        with _KEPT_LOCK:
            kept = _KEPT_ANSWERS.get(key)
        if kept is not None and kept[0] is engine and kept[1] == newest:
            minutes = kept[2]
        else:
            minutes = self.done_minutes(run_id, answered_key(step_id))  # type: ignore[attr-defined]
            with _KEPT_LOCK:
                if len(_KEPT_ANSWERS) >= _KEPT_SERIES and key not in _KEPT_ANSWERS:
                    _KEPT_ANSWERS.pop(next(iter(_KEPT_ANSWERS)))
                _KEPT_ANSWERS[key] = (engine, newest, minutes)
        return buckets_of(minutes, start.timestamp(), float(bucket_s), float(time_scale))

    def active_lockdowns(self) -> list[dict[str, Any]]:
        return self.fetch_all(
            select(lockdowns).where(lockdowns.c.active_site.is_not(None)).order_by(lockdowns.c.declared_at)
        )

    def tasks_owned(
        self, run_id: str, owners: Sequence[str], states: Sequence[str], limit: int
    ) -> list[dict[str, Any]]:
        return self.fetch_all(
            select(*_LIST_COLUMNS)
            .where(tasks.c.run_id == run_id, tasks.c.owner.in_(owners), tasks.c.state.in_(states))
            .order_by(tasks.c.due_at.is_(None), tasks.c.due_at, tasks.c.pk)
            .limit(limit)
        )
