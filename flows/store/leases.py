"""Leases (mixins of Reader and Tx): one owner of a running run at a time — a Runner, or a
deployed attempt — taken when free or expired, renewed, handed back; a reservation for an
attempt submitted but not started (`pending:<submitter>`); takeovers counted in the run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, select, update

from .base import Queries
from .schema import runs

PENDING = "pending:"  # a lease reserved for a submitted attempt that has not started yet


def _takeover(owner: str) -> Any:
    """1 when a lease changes hands from a real owner (SET reads the row as it was), else 0."""
    return case(
        (
            runs.c.lease_owner.is_not(None)
            & (runs.c.lease_owner != owner)
            & runs.c.lease_owner.not_like(f"{PENDING}%"),
            1,
        ),
        else_=0,
    )


class LeaseReads(Queries):
    def leasable_runs(self, owner: str | None, now: datetime, limit: int) -> list[str]:
        """Running runs whose lease is free, expired, or (`owner`) already ours."""
        free = runs.c.lease_owner.is_(None) | (runs.c.lease_expires < now)
        if owner is not None:
            free = free | (runs.c.lease_owner == owner)
        stmt = select(runs.c.id).where(runs.c.state == "running", free).order_by(runs.c.started_at).limit(limit)
        return [r.id for r in self.conn.execute(stmt)]

    def abandoned_ended_runs(self, now: datetime) -> list[dict[str, Any]]:
        """Runs that ended while their runner was dead: the lease is still named, and expired."""
        stmt = select(runs.c.id, runs.c.lease_owner).where(
            runs.c.state != "running", runs.c.lease_owner.is_not(None), runs.c.lease_expires < now
        )
        return self.fetch_all(stmt)


class LeaseWrites(Queries):
    def acquire_lease(self, run_id: str, owner: str, until: datetime, now: datetime, *, reserved: bool = False) -> bool:
        """Take a running run whose lease is free, expired or already ours; with `reserved`
        (a deployed attempt), also one reserved for an attempt (`pending:…`, see reserve_run)."""
        free = runs.c.lease_owner.is_(None) | (runs.c.lease_expires < now) | (runs.c.lease_owner == owner)
        if reserved:
            free = free | runs.c.lease_owner.like(f"{PENDING}%")
        stmt = (
            update(runs)
            .where(runs.c.id == run_id, runs.c.state == "running", free)
            .values(
                lease_owner=owner,
                lease_expires=until,
                attempts=runs.c.attempts + 1,
                takeovers=runs.c.takeovers + _takeover(owner),
            )
        )
        return self.conn.execute(stmt).rowcount == 1

    def reserve_run(self, run_id: str, submitter: str, until: datetime, now: datetime) -> bool:
        """Reserve a running run whose lease is free or expired for an attempt about to be
        submitted (`pending:<submitter>` until `until`): one submitter wins, the others skip it."""
        owner = f"{PENDING}{submitter}"
        stmt = (
            update(runs)
            .where(
                runs.c.id == run_id,
                runs.c.state == "running",
                runs.c.lease_owner.is_(None) | (runs.c.lease_expires < now),
            )
            .values(lease_owner=owner, lease_expires=until, takeovers=runs.c.takeovers + _takeover(owner))
        )
        return self.conn.execute(stmt).rowcount == 1

    def extend_reservation(self, run_id: str, owner: str, until: datetime) -> bool:
        """Keep a reservation whose attempt is still queued in Prefect (not started yet)."""
        stmt = update(runs).where(runs.c.id == run_id, runs.c.lease_owner == owner).values(lease_expires=until)
        return self.conn.execute(stmt).rowcount == 1

    def renew_leases(self, owner: str, until: datetime) -> set[str]:
        self.conn.execute(
            update(runs).where(runs.c.lease_owner == owner, runs.c.state == "running").values(lease_expires=until)
        )
        return {
            r.id
            for r in self.conn.execute(select(runs.c.id).where(runs.c.lease_owner == owner, runs.c.state == "running"))
        }

    def clear_expired_lease(self, run_id: str, owner: str, now: datetime) -> bool:
        stmt = (
            update(runs)
            .where(runs.c.id == run_id, runs.c.lease_owner == owner, runs.c.lease_expires < now)
            .values(lease_owner=None, lease_expires=None)
        )
        return self.conn.execute(stmt).rowcount == 1

    def release_lease(self, run_id: str, owner: str) -> None:
        self.conn.execute(
            update(runs)
            .where(runs.c.id == run_id, runs.c.lease_owner == owner)
            .values(lease_owner=None, lease_expires=None)
        )
