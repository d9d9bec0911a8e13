"""Task counts per run, step and state (mixins of Reader and Tx): every task write of a
transaction adds its change to a tally kept in memory (RunWrites), written before the commit as
one upsert per (run, step, state) touched; reads of the counts inside a writer write the tally
first. The run's counts and `/metrics` read these rows instead of counting task rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, select

from .base import Queries
from .schema import runs, task_counts

Key = tuple[str, str, str]  # run, step, state

_BY_STEP = select(task_counts.c.step_id, task_counts.c.state, task_counts.c.n).where(
    task_counts.c.run_id == bindparam("run_id"), task_counts.c.n != 0
)


class CountReads(Queries):
    def counts_by_step(self, run_id: str) -> dict[str, dict[str, int]]:
        """step → state → tasks (states with none left out)."""
        out: dict[str, dict[str, int]] = {}
        for step_id, state, n in self.conn.execute(_BY_STEP, {"run_id": run_id}):
            out.setdefault(step_id, {})[state] = int(n)
        return out

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

    def count_task(self, run_id: str, step_id: str, old: str | None, new: str | None) -> None:
        """A task of the step moved from `old` to `new` (None: created, or removed)."""
        if old == new:
            return
        if old is not None:
            self._task_deltas[(run_id, step_id, old)] = self._task_deltas.get((run_id, step_id, old), 0) - 1
        if new is not None:
            self._task_deltas[(run_id, step_id, new)] = self._task_deltas.get((run_id, step_id, new), 0) + 1

    def flush_counts(self) -> None:
        deltas = {k: d for k, d in self._task_deltas.items() if d}
        self._task_deltas.clear()
        if not deltas:
            return
        rows = [{"run_id": r, "step_id": s, "state": st, "n": d} for (r, s, st), d in sorted(deltas.items())]
        self.conn.execute(_upsert(self.dialect), rows)

    def counts_by_step(self, run_id: str) -> dict[str, dict[str, int]]:
        self.flush_counts()
        return super().counts_by_step(run_id)

    def open_tasks_by_state(self) -> dict[str, int]:
        self.flush_counts()
        return super().open_tasks_by_state()


_UPSERTS: dict[str, Any] = {}


def _upsert(dialect: str) -> Any:
    """INSERT … ON CONFLICT (run, step, state) DO UPDATE SET n = n + the delta, built once."""
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        from sqlalchemy.dialects import postgresql, sqlite

        ins: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(task_counts)
        stmt = ins.on_conflict_do_update(
            index_elements=[task_counts.c.run_id, task_counts.c.step_id, task_counts.c.state],
            set_={"n": task_counts.c.n + ins.excluded.n},
        )
        _UPSERTS[dialect] = stmt
    return stmt
