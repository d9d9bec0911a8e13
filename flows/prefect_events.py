"""Prefect events: the run's committed events (the store's `events` rows, in `seq` order) →
Prefect's event stream as `runbook.<event>`, on resource `runbook.run.<id>` with the site
(`runbook.site.<id>`) related, drill runs marked; rate-bounded per run so that a burst of
check-offs cannot flood the server's event pipeline. Each event's id derives from the run and its
`seq`: sent twice, Prefect keeps and reacts to it once."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

log = logging.getLogger("runbook.prefect")

# Events of the run as a whole are always sent; past the budget, task-level ones are counted
# and reported in one `runbook.events.suppressed` event a second instead.
ALWAYS_SENT = ("run.", "objective.", "site.", "coverage.")

NAMESPACE = uuid.UUID("0c5e7d02-8a53-4b0e-9a37-3f1c2b6d4e91")


def event_id(run_id: str, seq: int, kind: str = "event") -> uuid.UUID:
    """The Prefect id of a store event: the same on every send, so a resend after a crash
    between the send and the cursor's save is a duplicate Prefect drops."""
    return uuid.uuid5(NAMESPACE, f"runbook.{run_id}.{kind}.{seq}")


def events_per_second() -> float:
    return max(1.0, float(os.environ.get("RUNBOOK_PREFECT_EVENTS_PER_SECOND", "50")))


def prefect_event(row: Mapping[str, Any], drill: bool) -> dict[str, Any]:
    """One store event row → the arguments of `prefect.events.emit_event`."""
    resource = {
        "prefect.resource.id": f"runbook.run.{row['run_id']}",
        "prefect.resource.name": str(row["run_id"]),
        "runbook.drill": "true" if drill else "false",
    }
    related = [
        {
            "prefect.resource.id": f"runbook.site.{row['site_id']}",
            "prefect.resource.role": "site",
            "prefect.resource.name": str(row["site_id"]),
        }
    ]
    if row.get("task_id"):
        related.append(
            {
                "prefect.resource.id": f"runbook.task.{row['run_id']}.{row['task_id']}",
                "prefect.resource.role": "task",
                "prefect.resource.name": str(row["task_id"]),
            }
        )
    payload = {"seq": int(row["seq"]), "task": row.get("task_id"), "drill": drill, **dict(row.get("data") or {})}
    return {
        "event": f"runbook.{row['name']}",
        "resource": resource,
        "related": related,
        "payload": payload,
        "occurred": row["at"] if row["at"].tzinfo else row["at"].replace(tzinfo=UTC),
        "id": event_id(str(row["run_id"]), int(row["seq"])),
    }


class EventBudget:
    """A token bucket: `rate` events a second, bursts up to `burst`."""

    def __init__(self, rate: float | None = None, burst: float | None = None):
        self.rate = rate or events_per_second()
        self.burst = burst or 4 * self.rate
        self.tokens = self.burst
        self.at = time.monotonic()
        self.suppressed = 0
        self._reported = time.monotonic()

    def take(self, name: str) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if name.startswith(ALWAYS_SENT):
            self.tokens = max(0.0, self.tokens - 1)
            return True
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        self.suppressed += 1
        return False

    def report_due(self) -> int:
        """How many were suppressed since the last report, if a report is due (once a second)."""
        if self.suppressed and time.monotonic() - self._reported >= 1.0:
            n, self.suppressed, self._reported = self.suppressed, 0, time.monotonic()
            return n
        return 0


def emit_events(rows: Sequence[Mapping[str, Any]], drill: bool, budget: EventBudget, run_id: str, site_id: str) -> int:
    """Send the rows' events (those the budget allows); the number sent."""
    from prefect.events import emit_event

    sent = 0
    for row in rows:
        if not budget.take(str(row["name"])):
            continue
        if emit_event(**prefect_event(row, drill)) is not None:
            sent += 1
    n = budget.report_due() if rows else 0
    if n:
        emit_event(
            id=event_id(run_id, int(rows[-1]["seq"]), "suppressed"),
            event="runbook.events.suppressed",
            resource={"prefect.resource.id": f"runbook.run.{run_id}", "runbook.drill": str(drill).lower()},
            related=[{"prefect.resource.id": f"runbook.site.{site_id}", "prefect.resource.role": "site"}],
            payload={"count": n, "rate": budget.rate},
        )
    return sent
