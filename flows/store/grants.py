"""The SQL of the grant ledger and of welfare check-ins (mixins of Reader and Tx): a grant
recorded, the grants of a site, a run or a person, the revocations due, a grant's row changed;
a check-in round opened, read by its token, changed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update

from .base import Queries, insert_ignore
from .schema import checkins, grants

OPEN = ("active", "revoking", "revoke_failed")  # still (possibly) granted on the system


class GrantReads(Queries):
    def grant(self, grant_id: str) -> dict[str, Any] | None:
        return self.fetch_one(select(grants).where(grants.c.id == grant_id))

    def grants(
        self,
        *,
        site_id: str | None = None,
        run_id: str | None = None,
        person_id: str | None = None,
        states: Sequence[str] | None = None,
        system: str | None = None,
        drill: bool | None = None,
    ) -> list[dict[str, Any]]:
        stmt = select(grants)
        for column, value in (
            (grants.c.site_id, site_id),
            (grants.c.run_id, run_id),
            (grants.c.person_id, person_id),
            (grants.c.system, system),
            (grants.c.drill, drill),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if states:
            stmt = stmt.where(grants.c.state.in_(list(states)))
        return self.fetch_all(stmt.order_by(grants.c.granted_at, grants.c.id))

    def grants_due(self, now: datetime, limit: int = 50) -> list[dict[str, Any]]:
        """Grants whose expiry, review or revocation attempt is due."""
        stmt = (
            select(grants)
            .where(
                or_(
                    and_(grants.c.state.in_(["revoking", "revoke_failed"]), grants.c.next_attempt_at <= now),
                    and_(grants.c.state == "active", grants.c.expires_at <= now),
                    and_(grants.c.state == "active", grants.c.review_at <= now, grants.c.review_task.is_(None)),
                )
            )
            .order_by(grants.c.next_attempt_at, grants.c.id)
            .limit(limit)
        )
        return self.fetch_all(stmt)

    def next_grant_wake(self) -> datetime | None:
        """The earliest time a grant needs the revoker again (None: nothing to wait for)."""
        times = []
        for column, states in (
            (grants.c.next_attempt_at, ["revoking", "revoke_failed"]),
            (grants.c.expires_at, ["active"]),
        ):
            found = self.conn.execute(
                select(column).where(grants.c.state.in_(states), column.is_not(None)).order_by(column).limit(1)
            ).scalar()
            if found is not None:
                times.append(found)
        found = self.conn.execute(
            select(grants.c.review_at)
            .where(grants.c.state == "active", grants.c.review_task.is_(None), grants.c.review_at.is_not(None))
            .order_by(grants.c.review_at)
            .limit(1)
        ).scalar()
        if found is not None:
            times.append(found)
        return min(times) if times else None


class GrantWrites(Queries):
    def insert_grant(self, row: dict[str, Any]) -> bool:
        """Record a grant (once per task: a repeated record changes nothing)."""
        result = self.conn.execute(insert_ignore(self.dialect, grants).values(**{"attempts": 0, **row}))
        return bool(result.rowcount)

    def update_grant(
        self,
        grant_id: str,
        *,
        expect: Sequence[str] | None = None,
        due_before: datetime | None = None,
        **values: Any,
    ) -> bool:
        """Change a ledger row if it is still in `expect` (and, with `due_before`, its next
        attempt is due by then: how one sweep claims a revocation)."""
        stmt = update(grants).where(grants.c.id == grant_id)
        if due_before is not None:
            stmt = stmt.where(grants.c.next_attempt_at <= due_before)
        if expect is not None:
            stmt = stmt.where(grants.c.state.in_(list(expect)))
        return bool(self.conn.execute(stmt.values(**values)).rowcount)


class CheckinReads(Queries):
    def checkin(self, token: str) -> dict[str, Any] | None:
        return self.fetch_one(select(checkins).where(checkins.c.token == token))

    def checkin_rounds(self, run_id: str, task_id: str) -> list[dict[str, Any]]:
        return self.fetch_all(
            select(checkins)
            .where(checkins.c.run_id == run_id, checkins.c.task_id == task_id)
            .order_by(checkins.c.round)
        )

    def checkins_of(self, run_id: str, step_id: str) -> list[dict[str, Any]]:
        return self.fetch_all(
            select(checkins)
            .where(checkins.c.run_id == run_id, checkins.c.step_id == step_id)
            .order_by(checkins.c.person_id, checkins.c.round)
        )


class CheckinWrites(Queries):
    def insert_checkin(self, row: dict[str, Any]) -> None:
        self.conn.execute(insert(checkins).values(**row))

    def update_checkin(self, token: str, **values: Any) -> bool:
        return bool(self.conn.execute(update(checkins).where(checkins.c.token == token).values(**values)).rowcount)
