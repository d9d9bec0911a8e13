"""The SQL of forecasts (mixins of Reader and Tx): a run's stored forecast; the running runs
with their newest event and the forecast's seq, age and claim (what the forecaster is behind
on); claiming the one simulation of a run in flight, storing its result, letting it go."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update

from .base import Queries, insert_ignore, json_ready
from .schema import events, forecasts, runs

_FORECAST = select(forecasts).where(forecasts.c.run_id == bindparam("run_id"))
_STAMP = select(forecasts.c.seq, forecasts.c.computed_at).where(forecasts.c.run_id == bindparam("run_id"))


class ForecastReads(Queries):
    def forecast(self, run_id: str) -> dict[str, Any] | None:
        """The run's stored forecast row (`data` None until the first simulation is stored)."""
        return self.fetch_one(_FORECAST, {"run_id": run_id})

    def forecast_stamp(self, run_id: str) -> tuple[int, datetime | None]:
        """The seq and time of the stored forecast, (-1, None) when there is none: what a cache
        of something showing the forecast (the board) is keyed on besides the run's events."""
        row = self.conn.execute(_STAMP, {"run_id": run_id}).first()
        return (-1, None) if row is None or row.computed_at is None else (int(row.seq), row.computed_at)

    def forecast_states(self) -> list[dict[str, Any]]:
        """Every running run: `id`, `seq` and `changed_at` (its newest event), and its forecast's `as_of`,
        `computed_at`, `busy_by`, `busy_until` (None where it has none). One statement."""
        newest = select(func.max(events.c.seq)).where(events.c.run_id == runs.c.id).scalar_subquery()
        last = events.alias("last_event")
        newest_at = (  # the run's events index (run_id, seq) read backwards: one row
            select(last.c.at).where(last.c.run_id == runs.c.id).order_by(last.c.seq.desc()).limit(1).scalar_subquery()
        )
        stmt = (
            select(
                runs.c.id,
                newest.label("seq"),
                newest_at.label("changed_at"),
                forecasts.c.seq.label("as_of"),
                forecasts.c.computed_at,
                forecasts.c.busy_by,
                forecasts.c.busy_until,
            )
            .select_from(runs.outerjoin(forecasts, forecasts.c.run_id == runs.c.id))
            .where(runs.c.state == "running")
            .order_by(runs.c.started_at)
        )
        return self.fetch_all(stmt)


class ForecastWrites(Queries):
    dialect: str

    def claim_forecast(self, run_id: str, owner: str, now: datetime, until: datetime) -> bool:
        """The run's simulation is `owner`'s until `until` (unless another holds a live claim)."""
        # two processes may claim a new run at once: the row is made if missing, then one wins it
        self.conn.execute(insert_ignore(self.dialect, forecasts).values(run_id=run_id, seq=-1, trials=0))
        free = or_(forecasts.c.busy_by.is_(None), forecasts.c.busy_until < now, forecasts.c.busy_by == owner)
        done = self.conn.execute(
            update(forecasts).where(and_(forecasts.c.run_id == run_id, free)).values(busy_by=owner, busy_until=until)
        )
        return bool(done.rowcount)

    def put_forecast(self, run_id: str, owner: str, seq: int, data: dict[str, Any], trials: int, now: datetime) -> bool:
        """Store what `owner` simulated from the run at event `seq`; False if its claim was lost
        (it ran past `busy_until` and another took it): the other's result stands."""
        done = self.conn.execute(
            update(forecasts)
            .where(and_(forecasts.c.run_id == run_id, forecasts.c.busy_by == owner))
            .values(seq=seq, data=json_ready(data), trials=trials, computed_at=now, busy_by=None, busy_until=None)
        )
        return bool(done.rowcount)

    def release_forecast(self, run_id: str, owner: str) -> None:
        self.conn.execute(
            update(forecasts)
            .where(and_(forecasts.c.run_id == run_id, forecasts.c.busy_by == owner))
            .values(busy_by=None, busy_until=None)
        )
