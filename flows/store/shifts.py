"""The SQL of shift plans and loans (mixins of Reader and Tx): a run's shifts, a person's, by
link token; loans of agents between sites."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from .base import Queries
from .schema import loans, shifts

LIVE = ("planned", "acknowledged")


class ShiftReads(Queries):
    def shifts(
        self, run_id: str, *, person: str | None = None, statuses: Sequence[str] | None = LIVE
    ) -> list[dict[str, Any]]:
        stmt = select(shifts).where(shifts.c.run_id == run_id)
        if person is not None:
            stmt = stmt.where(shifts.c.person_id == person)
        if statuses is not None:
            stmt = stmt.where(shifts.c.status.in_(list(statuses)))
        return self.fetch_all(stmt.order_by(shifts.c.start_at, shifts.c.person_id, shifts.c.id))

    def shift(self, run_id: str, shift_id: str) -> dict[str, Any] | None:
        return self.fetch_one(select(shifts).where(shifts.c.run_id == run_id, shifts.c.id == shift_id))

    def shifts_by_token(self, token: str) -> list[dict[str, Any]]:
        return self.fetch_all(select(shifts).where(shifts.c.token == token).order_by(shifts.c.start_at))

    def shift_tokens(self, run_id: str) -> dict[str, str]:
        """person id → their link token in this run."""
        stmt = select(shifts.c.person_id, shifts.c.token).where(shifts.c.run_id == run_id).distinct()
        return {p: t for p, t in self.conn.execute(stmt)}

    def shift_count(self, run_id: str) -> int:
        return len(self.conn.execute(select(shifts.c.id).where(shifts.c.run_id == run_id)).all())

    def loan(self, loan_id: str) -> dict[str, Any] | None:
        return self.fetch_one(select(loans).where(loans.c.id == loan_id))

    def loans(self, *, site: str | None = None, states: Sequence[str] | None = None) -> list[dict[str, Any]]:
        stmt = select(loans)
        if site is not None:
            stmt = stmt.where((loans.c.from_site == site) | (loans.c.to_site == site))
        if states is not None:
            stmt = stmt.where(loans.c.state.in_(list(states)))
        return self.fetch_all(stmt.order_by(loans.c.created_at, loans.c.id))


class ShiftWrites(Queries):
    def insert_shifts(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.conn.execute(insert(shifts), [dict(r) for r in rows])

    def set_shift(self, run_id: str, shift_id: str, *, expect: Sequence[str], at: datetime, **values: Any) -> bool:
        """Change one shift if its status is one of `expect`; False when it was not."""
        result = self.conn.execute(
            update(shifts)
            .where(shifts.c.run_id == run_id, shifts.c.id == shift_id, shifts.c.status.in_(list(expect)))
            .values(updated_at=at, **values)
        )
        return bool(result.rowcount)

    def insert_loan(self, row: Mapping[str, Any]) -> None:
        self.conn.execute(insert(loans), [dict(row)])

    def set_loan(self, loan_id: str, *, expect: Sequence[str], at: datetime, **values: Any) -> bool:
        result = self.conn.execute(
            update(loans).where(loans.c.id == loan_id, loans.c.state.in_(list(expect))).values(updated_at=at, **values)
        )
        return bool(result.rowcount)
