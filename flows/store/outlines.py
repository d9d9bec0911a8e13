"""A task's outline (a mixin of Tx, and the reads' statement): the small outputs a task is read
by without the rest — a roll call's `asked`, `accounted`, `counts` and `closed`, beside answer
groups that hold everyone asked (200 KB at 2,500 people). Written with the outputs by the
store's two writers of them (`insert_tasks`, `_update_task`), kept in `task_outlines`, so a read
decodes a few values instead of having the database parse the whole document (migration 0024)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, select

from .base import Queries
from .schema import task_outlines, tasks

# The outputs kept in an outline: every kind's `live_keys` (flows/kinds) and a roll call's
# `closed` (its headcount); pinned by tests/flows/test_board_reads.py.
OUTLINE_KEYS = ("accounted", "asked", "closed", "counts")


def outline_of(outputs: Mapping[str, Any] | None) -> dict[str, Any]:
    """The outline keys a task's outputs have (JSON-ready outputs in, the same values out)."""
    return {k: outputs[k] for k in OUTLINE_KEYS if k in outputs} if outputs else {}


def had_outline(kept: Mapping[str, Any] | None) -> bool:
    """Whether a task may have an outline row, from the row a transaction kept of it before
    writing its outputs (None: not read, so it may)."""
    return kept is None or bool(outline_of(kept.get("outputs")))


_JOIN = tasks.outerjoin(
    task_outlines, and_(task_outlines.c.run_id == tasks.c.run_id, task_outlines.c.task_id == tasks.c.id)
)
_DELETE = delete(task_outlines).where(
    task_outlines.c.run_id == bindparam("w_run"), task_outlines.c.task_id == bindparam("w_id")
)
_UPSERTS: dict[str, Any] = {}


def outline_select(by: str) -> Any:
    """SELECT <the task's columns but outputs>, its outline WHERE run, <by> ORDER BY pk LIMIT 1."""
    columns = [c for c in tasks.c if c.name != "outputs"]
    return (
        select(*columns, task_outlines.c.outline.label("outline"))
        .select_from(_JOIN)
        .where(tasks.c.run_id == bindparam("run_id"), tasks.c[by] == bindparam("by"))
        .order_by(tasks.c.pk)
        .limit(1)
    )


def outline_row(row: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """A row of `outline_select` → the task with only `keys` of its outputs (those it has)."""
    outline = row.pop("outline") or {}
    row["outputs"] = {k: outline[k] for k in keys if outline.get(k) is not None}
    return row


def _upsert(dialect: str) -> Any:
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        from sqlalchemy.dialects import postgresql, sqlite

        ins: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(task_outlines)
        stmt = ins.on_conflict_do_update(
            index_elements=[task_outlines.c.run_id, task_outlines.c.task_id], set_={"outline": ins.excluded.outline}
        )
        _UPSERTS[dialect] = stmt
    return stmt


class OutlineWrites(Queries):
    dialect: str

    def write_outlines(self, rows: Sequence[tuple[str, str, Mapping[str, Any] | None, bool]]) -> None:
        """The outlines of tasks whose outputs were just written: (run, task, outputs, whether it
        may have an outline row already — `had_outline`); a task known to have none has no row
        to remove, and costs no statement when its outputs have no outline either."""
        kept = [{"run_id": r, "task_id": t, "outline": o} for r, t, out, _ in rows if (o := outline_of(out))]
        if kept:
            self.conn.execute(_upsert(self.dialect), kept)
        gone = [{"w_run": r, "w_id": t} for r, t, out, had in rows if had and not outline_of(out)]
        if gone:
            self.conn.execute(_DELETE, gone)
