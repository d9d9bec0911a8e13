"""Report: a run in the store → its after-action report (docs/api.md `GET /api/runs/{run}/report`):
scope, timeline, objectives met or missed against their deadlines with the margin, durations per
step from actionable to done (p50, p90, max; per team), bottlenecks (person-hours of waiting,
the longest blocked items, pool shortages), the roll-call response curve and time to quorum,
coverage per queue with the worst gaps, notifications per channel, every intervention with its
reason, the audit's verification, the site's findings, and a drill's score against the previous
drill of the same runbook and site. Read-only: one read transaction, every task read once.

Times are UTC; durations in real seconds (a run under RUNBOOK_TIME_SCALE reports the seconds it
took, not the scaled ones). Percentiles are nearest-rank: p50 of n sorted values is the
ceil(0.5·n)-th.

This module reads the run once and assembles the sections, then scores a drill; the sections
are `report_timeline.py` (objectives against their deadlines, the milestones),
`report_durations.py` (step durations, bottlenecks) and `report_sections.py` (roll calls,
coverage, notifications, interventions, findings)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from . import rules
from .audit_ops import AuditOps
from .errors import NotFound
from .progress import total
from .report_durations import bottlenecks_of, steps_of
from .report_sections import coverage_of, findings_of, interventions_of, notifications_of, roll_calls_of
from .report_timeline import objectives_of, timeline_of
from .runstate import plan_of
from .store import Reader, Store, utcnow
from .views import iso


class ReportOps:
    def __init__(self, store: Store):
        self.store = store

    def report(self, run_id: str, now: datetime | None = None) -> dict[str, Any]:
        with self.store.read() as r:
            run = r.run(run_id)
            if run is None:
                raise NotFound(rules.unknown_run(r, run_id))
            return build_report(r, run, AuditOps(self.store), now or utcnow())


def build_report(r: Reader, run: Mapping[str, Any], audit: AuditOps, now: datetime) -> dict[str, Any]:
    plan = plan_of(run, r)
    end = run["ended_at"] or now
    rows = r.tasks(run["id"])
    entries = r.audit(run["id"])
    objectives = objectives_of(r, run, plan, now)
    steps = steps_of(plan, rows)
    roll_calls = roll_calls_of(r, run, plan, rows)
    covered = coverage_of(r, run, plan, end)
    interventions = interventions_of(r, run, entries)
    verification = audit.verify(r, run["id"], entries=entries)
    report = {
        "run": {
            "id": run["id"],
            "runbook": run["runbook_id"],
            "name": plan.name,
            "version": run["runbook_version"],
            "site": run["site_id"],
            "site_name": plan.site.name,
            "lang": plan.site.lang,
            "timezone": plan.site.timezone,
            "state": run["state"],
            "started_at": iso(run["started_at"]),
            "started_by": run["started_by"],
            "ended_at": iso(run["ended_at"]),
            "reason": run["reason"],
            "inputs": run["inputs"],
            "time_scale": float(run["time_scale"] or 1),
            "counts": total([_count(rows)]),
        },
        "drill": bool(run["drill"]),
        "generated_at": now.isoformat(),
        "timeline": timeline_of(r, run, plan, rows, objectives),
        "objectives": objectives,
        "steps": steps,
        "bottlenecks": bottlenecks_of(entries, rows, end),
        "roll_calls": roll_calls,
        "coverage": covered,
        "notifications": notifications_of(r.deliveries(run["id"])),
        "interventions": interventions,
        "audit": {
            "verified": verification.verified,
            "entries": verification.entries,
            "problems": list(verification.problems),
        },
        "findings": findings_of(r, run, now),
        "score": None,
    }
    if run["drill"]:
        mine = score_of(objectives, roll_calls, covered, interventions)
        before = r.previous_drill(run)
        previous = None
        if before is not None:
            previous = {"run": before["id"], "started_at": iso(before["started_at"]), **_score_of_run(r, before, now)}
        report["score"] = {**mine, "previous": previous, "change": _change(mine, previous)}
    return report


def _count(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for t in rows:
        out[t["state"]] += 1
    return dict(out)


# --- a drill's score ----------------------------------------------------------------------------


def score_of(
    objectives: Sequence[Mapping[str, Any]],
    roll_calls: Sequence[Mapping[str, Any]],
    covered: Sequence[Mapping[str, Any]],
    interventions: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    quorum = [x["time_to_quorum_s"] for x in roll_calls if x["time_to_quorum_s"] is not None]
    return {
        "objectives_met": sum(1 for o in objectives if o["met"]),
        "objectives": len(objectives),
        "time_to_quorum_s": min(quorum) if quorum else None,
        "coverage": round(min(c["covered"] for c in covered), 4) if covered else None,
        "interventions": len(interventions),
    }


def _score_of_run(r: Reader, run: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    plan = plan_of(run, r)
    rows = r.tasks(run["id"])
    return score_of(
        objectives_of(r, run, plan, now),
        roll_calls_of(r, run, plan, rows),
        coverage_of(r, run, plan, run["ended_at"] or now),
        interventions_of(r, run, r.audit(run["id"])),
    )


def _change(mine: Mapping[str, Any], previous: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """This drill minus the previous one, per measure (None where either lacks it)."""
    if previous is None:
        return None
    out: dict[str, Any] = {}
    for k in ("objectives_met", "time_to_quorum_s", "coverage", "interventions"):
        a, b = mine.get(k), previous.get(k)
        out[k] = round(a - b, 4) if a is not None and b is not None else None
    return out
