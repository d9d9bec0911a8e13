"""The SQL of Prefect's mirror (mixins of Reader and Tx): a run's tasks as the mirror needs
them (ids, states, who ended them), and its cursor row. Read outside every change's commit path:
the mirror follows committed changes, it never takes part in them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select

from .base import Queries
from .schema import prefect_mirror, tasks

_MIRROR_COLUMNS = (
    tasks.c.id,
    tasks.c.step_id,
    tasks.c.item_key,
    tasks.c.kind,
    tasks.c.state,
    tasks.c.owner,
    tasks.c.ended_by,
    tasks.c.note,
    tasks.c.reason,
    tasks.c.late,
)


class MirrorReads(Queries):
    def mirror_tasks(self, run_id: str) -> list[dict[str, Any]]:
        """Every task of the run in creation order, with what its task run shows."""
        return self.fetch_all(select(*_MIRROR_COLUMNS).where(tasks.c.run_id == run_id).order_by(tasks.c.pk))

    def task_count(self, run_id: str) -> int:
        return int(self.conn.execute(select(func.count()).where(tasks.c.run_id == run_id)).scalar_one())

    def mirror_cursor(self, run_id: str) -> dict[str, Any] | None:
        return self.fetch_one(select(prefect_mirror).where(prefect_mirror.c.run_id == run_id))


class MirrorWrites(Queries):
    def put_mirror_cursor(self, run_id: str, flow_run_id: str | None, event_seq: int, now: datetime) -> None:
        self.conn.execute(delete(prefect_mirror).where(prefect_mirror.c.run_id == run_id))
        self.conn.execute(
            insert(prefect_mirror).values(run_id=run_id, flow_run_id=flow_run_id, event_seq=event_seq, updated_at=now)
        )
