"""Counts for monitoring (a mixin of Reader): runs by state, tasks of running runs by state,
lease takeovers. Each is one aggregate query; `/metrics` calls them once per scrape."""

from __future__ import annotations

from sqlalchemy import func, select

from .base import Queries
from .schema import runs, tasks


class StatsReads(Queries):
    def runs_by_state(self) -> dict[str, int]:
        stmt = select(runs.c.state, func.count()).group_by(runs.c.state)
        return {state: int(n) for state, n in self.conn.execute(stmt)}

    def overdue_open_tasks(self) -> int:
        stmt = (
            select(func.count())
            .select_from(tasks.join(runs, runs.c.id == tasks.c.run_id))
            .where(runs.c.state == "running", tasks.c.state == "waiting", tasks.c.overdue_at.is_not(None))
        )
        return int(self.conn.execute(stmt).scalar_one())

    def lease_takeovers(self) -> int:
        return int(self.conn.execute(select(func.coalesce(func.sum(runs.c.takeovers), 0))).scalar_one())
