"""Tasks written a page at a time (a mixin of Tx, under RunWrites): the runner's claims and
records — a page of tasks' states in one UPDATE — with the counts
tally (store/counts.py) and the transaction's copies of the rows kept in step."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, case, update

from .base import as_read, json_ready
from .counts import CountWrites, done_minute_of
from .outlines import OutlineWrites, had_outline
from .schema import tasks

_PAGE_UPDATES: dict[tuple[tuple[str, ...], tuple[str, ...], int], Any] = {}
# Tasks a statement reads or writes at most (Tx.read_tasks, write_task_states): the runner's pages.
PAGE = 500


def _page_size(n: int) -> int:
    """The statement size a page of `n` tasks is written with: the next power of two (at most
    PAGE), so that a few statements are built and compiled, not one for every count."""
    return min(PAGE, 1 << max(n - 1, 0).bit_length())


def _tasks_update(common: tuple[str, ...], own: tuple[str, ...], n: int) -> Any:
    """UPDATE tasks SET <common> = :c, <own> = CASE id WHEN :w_id0 THEN :c_0 … END WHERE run,
    id IN (:w_id0 … :w_id<n-1>), state = :w_state RETURNING id, step, end; cached."""
    key = (common, own, n)
    stmt = _PAGE_UPDATES.get(key)
    if stmt is None:
        ids: list[Any] = [bindparam(f"w_id{i}") for i in range(n)]
        stmt = (
            update(tasks)
            .where(tasks.c.run_id == bindparam("w_run"), tasks.c.id.in_(ids), tasks.c.state == bindparam("w_state"))
            .values(
                {c: bindparam(c) for c in common}
                | {
                    c: case(
                        *[(ids[i], bindparam(f"{c}_{i}", type_=tasks.c[c].type)) for i in range(n)], value=tasks.c.id
                    )
                    for c in own
                }
            )
            .returning(tasks.c.id, tasks.c.step_id, tasks.c.ended_at)
        )
        _PAGE_UPDATES[key] = stmt
    return stmt


class TaskPageWrites(CountWrites, OutlineWrites):
    # The transaction's copies of the task rows it read or wrote (Tx.task, RunWrites).
    _task_rows: dict[tuple[str, str], dict[str, Any] | None]

    def write_task_states(
        self, run_id: str, own: Mapping[str, Mapping[str, Any]], expect: Sequence[str], state: str, **values: Any
    ) -> set[str]:
        """`write_task_state` for many tasks, one statement a page (PAGE) and expected state:
        `own` maps each task's id to its own values (the same columns for every task, such as
        its outputs), `values` are every task's. The ids written; a task in none of `expect`
        (changed meanwhile) is left as it is."""
        if "done" in expect:
            raise ValueError("a task leaves done one at a time (write_task_state): its minute is read first")
        own = {i: {k: json_ready(v) if k == "outputs" else v for k, v in mine.items()} for i, mine in own.items()}
        if "outputs" in values:
            values["outputs"] = json_ready(values["outputs"])
        written: set[str] = set()
        left = list(own)
        for old in expect:
            for start in range(0, len(left), PAGE):
                written |= self._write_page(run_id, {i: own[i] for i in left[start : start + PAGE]}, old, state, values)
            left = [i for i in left if i not in written]
        common = {**values, "state": state}
        outlines = []  # the outlines follow the outputs written (store/outlines.py)
        for task_id in own:
            kept = self._task_rows.get((run_id, task_id))
            changes = {**common, **own[task_id]}
            if task_id in written and "outputs" in changes:
                outlines.append((run_id, task_id, changes["outputs"], had_outline(kept)))
            if kept is None:
                continue
            if task_id in written:
                kept.update(as_read(changes))
            else:
                del self._task_rows[(run_id, task_id)]
        if outlines:
            self.write_outlines(outlines)
        return written

    def _write_page(
        self, run_id: str, own: Mapping[str, Mapping[str, Any]], old: str, state: str, values: Mapping[str, Any]
    ) -> set[str]:
        ids = list(own)
        if not ids:
            return set()
        columns = tuple(sorted(own[ids[0]]))
        if any(tuple(sorted(v)) != columns for v in own.values()) or set(columns) & {*values, "state"}:
            raise ValueError("every task of a page has its own values for the same columns, not common ones")
        n = _page_size(len(ids))
        padded = ids + [ids[-1]] * (n - len(ids))  # the last task again: IN and CASE give the same
        params: dict[str, Any] = {**values, "state": state, "w_run": run_id, "w_state": old}
        for i, task_id in enumerate(padded):
            params[f"w_id{i}"] = task_id
            for c in columns:
                params[f"{c}_{i}"] = own[task_id][c]
        stmt = _tasks_update(tuple(sorted({*values, "state"})), columns, n)
        head = self.run_head(run_id) if state == "done" else None  # type: ignore[attr-defined]  # Tx's, kept
        written: set[str] = set()
        for task_id, step_id, ended_at in self.conn.execute(stmt, params):
            written.add(task_id)
            self.count_task(run_id, step_id, old, state)
            if state == "done" and ended_at is not None:
                self.count_done(run_id, step_id, done_minute_of(head, ended_at), +1)
        return written
