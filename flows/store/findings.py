"""The SQL of findings and reports (mixins of Reader and Tx): an after-action review's findings
about a run, by site and state; the ones whose owner is due a `finding.due` reminder; add, close
and the next reminder; a run's lockdown and the previous drill of its runbook and site."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update

from .base import Queries
from .schema import findings, lockdowns, outbox, runs


class FindingReads(Queries):
    def finding(self, finding_id: str) -> dict[str, Any] | None:
        return self.fetch_one(select(findings).where(findings.c.id == finding_id))

    def findings(
        self, *, site_id: str | None = None, run_id: str | None = None, open_only: bool = False
    ) -> list[dict[str, Any]]:
        stmt = select(findings).order_by(findings.c.created_at, findings.c.id)
        if site_id is not None:
            stmt = stmt.where(findings.c.site_id == site_id)
        if run_id is not None:
            stmt = stmt.where(findings.c.run_id == run_id)
        if open_only:
            stmt = stmt.where(findings.c.state == "open")
        return self.fetch_all(stmt)

    def findings_to_remind(self, now: datetime, limit: int = 100) -> list[dict[str, Any]]:
        stmt = (
            select(findings)
            .where(findings.c.state == "open", findings.c.remind_at <= now)
            .order_by(findings.c.remind_at)
            .limit(limit)
        )
        return self.fetch_all(stmt)

    def lockdown(self, lockdown_id: str) -> dict[str, Any] | None:
        return self.fetch_one(select(lockdowns).where(lockdowns.c.id == lockdown_id))

    def deliveries(self, run_id: str) -> list[dict[str, Any]]:
        """A run's notifications as the report counts them: channel, state, whether an attempt
        failed, queued and sent times (not the messages themselves)."""
        stmt = select(
            outbox.c.channel,
            outbox.c.channel_spec,
            outbox.c.state,
            outbox.c.last_error.is_not(None).label("failed"),
            outbox.c.created_at,
            outbox.c.sent_at,
        ).where(outbox.c.run_id == run_id)
        return self.fetch_all(stmt)

    def previous_drill(self, run: Mapping[str, Any]) -> dict[str, Any] | None:
        """The latest drill run of the same runbook and site started before `run`."""
        stmt = (
            select(runs)
            .where(
                runs.c.drill.is_(True),
                runs.c.runbook_id == run["runbook_id"],
                runs.c.site_id == run["site_id"],
                runs.c.started_at < run["started_at"],
                runs.c.id != run["id"],
            )
            .order_by(runs.c.started_at.desc())
            .limit(1)
        )
        return self.fetch_one(stmt)


class FindingWrites(Queries):
    def insert_finding(self, row: Mapping[str, Any]) -> None:
        self.conn.execute(insert(findings).values(**row))

    def close_finding(self, finding_id: str, *, at: datetime, by: str, reason: str) -> bool:
        done = self.conn.execute(
            update(findings)
            .where(findings.c.id == finding_id, findings.c.state == "open")
            .values(state="closed", closed_at=at, closed_by=by, close_reason=reason, remind_at=None)
        )
        return bool(done.rowcount)

    def next_finding_reminder(self, finding_id: str, *, remind_at: datetime, reminders: int) -> None:
        self.conn.execute(
            update(findings)
            .where(findings.c.id == finding_id, findings.c.state == "open")
            .values(remind_at=remind_at, reminders=reminders)
        )
