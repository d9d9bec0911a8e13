"""The SQL of the dashboard (a mixin of Reader): aggregates and short lists, so a page of a
run with 10,000 tasks reads a few hundred rows, not 10,000."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Sequence

from sqlalchemy import func, or_, select

from .schema import lockdowns, muster_answers, tasks

_ACTIVE = ("waiting", "ready", "running")
_LIST_COLUMNS = [c for c in tasks.c if c.name not in ("item",)]


class BoardReads:
    def step_stats(self, run_id: str) -> dict[str, dict[str, tuple[int, datetime | None]]]:
        """step → state → (tasks, the earliest time one of them became actionable)."""
        stmt = (select(tasks.c.step_id, tasks.c.state, func.count(), func.min(tasks.c.actionable_at))
                .where(tasks.c.run_id == run_id).group_by(tasks.c.step_id, tasks.c.state))
        out: dict[str, dict[str, tuple[int, datetime | None]]] = {}
        for step_id, state, n, oldest in self.conn.execute(stmt):
            out.setdefault(step_id, {})[state] = (int(n), _aware(oldest))
        return out

    def overdue_tasks(self, run_id: str, now: datetime, limit: int) -> tuple[int, list[dict[str, Any]]]:
        where = (tasks.c.run_id == run_id, tasks.c.state.in_(_ACTIVE), tasks.c.due_at < now)
        n = self.conn.execute(select(func.count()).select_from(tasks).where(*where)).scalar_one()
        return int(n), self._rows(select(*_LIST_COLUMNS).where(*where).order_by(tasks.c.due_at).limit(limit))

    def blocked_tasks(self, run_id: str, held_kinds: Sequence[str], limit: int) -> tuple[int, list[dict[str, Any]]]:
        """Failed tasks, and tasks held before anyone can act on them (waiting for stock)."""
        where = (tasks.c.run_id == run_id,
                 or_(tasks.c.state == "failed", (tasks.c.state == "ready") & tasks.c.kind.in_(held_kinds)))
        n = self.conn.execute(select(func.count()).select_from(tasks).where(*where)).scalar_one()
        return int(n), self._rows(select(*_LIST_COLUMNS).where(*where).order_by(tasks.c.pk).limit(limit))

    def done_times(self, run_id: str, step_id: str) -> list[datetime]:
        stmt = (select(tasks.c.ended_at).where(tasks.c.run_id == run_id, tasks.c.step_id == step_id,
                                               tasks.c.state == "done").order_by(tasks.c.ended_at))
        return [_aware(t) for (t,) in self.conn.execute(stmt) if t is not None]

    def first_answer_times(self, run_id: str, step_id: str) -> list[datetime]:
        """When each person first answered a roll call (a change of mind does not count twice)."""
        stmt = (select(func.min(muster_answers.c.at)).where(muster_answers.c.run_id == run_id,
                                                            muster_answers.c.step_id == step_id)
                .group_by(muster_answers.c.person_id))
        return sorted(_aware(t) for (t,) in self.conn.execute(stmt))

    def active_lockdowns(self) -> list[dict[str, Any]]:
        return self._rows(select(lockdowns).where(lockdowns.c.active_site.is_not(None))
                          .order_by(lockdowns.c.declared_at))

    def tasks_owned(self, run_id: str, owners: Sequence[str], states: Sequence[str],
                    limit: int) -> list[dict[str, Any]]:
        return self._rows(select(*_LIST_COLUMNS).where(tasks.c.run_id == run_id, tasks.c.owner.in_(owners),
                                                       tasks.c.state.in_(states))
                          .order_by(tasks.c.due_at.is_(None), tasks.c.due_at, tasks.c.pk).limit(limit))


def _aware(value: datetime | None) -> datetime | None:
    """Aggregates bypass the column type on SQLite: make them UTC-aware like the rest."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=timezone.utc)
