"""Report, what the run did with people and messages: a run in the store → its roll calls'
response curves and time to quorum, coverage per queue with the worst gaps, notifications per
channel, managers' interventions with their reasons, the site's findings (flows/report.py)."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from runbooks.plan import Plan

from . import coverage
from .findings import finding_json
from .report_durations import TOP, seconds_between
from .store import Reader
from .views import iso

INTERVENTIONS = frozenset({"task.skip", "task.retry", "task.reassign", "task.add", "run.cancel", "muster.closed"})


def roll_calls_of(
    r: Reader, run: Mapping[str, Any], plan: Plan, rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Per roll call: people asked, the response curve (first answers in time, seconds since
    it started) and the time to quorum (when the first answers reached quorum × asked)."""
    out = []
    for step in plan.steps:
        if step.kind != "muster":
            continue
        task = next((t for t in rows if t["step_id"] == step.id), None)
        if task is None or task["actionable_at"] is None:
            continue
        asked = len(r.muster_asked(run["id"], step.id))
        first: dict[str, datetime] = {}
        for a in r.muster_answers(run["id"], step.id, current_only=False):
            first.setdefault(a["person_id"], a["at"])
        times = sorted(first.values())
        quorum = float(step.params.get("quorum") or 1.0)
        need = math.ceil(quorum * asked - 1e-9) if asked else 0
        to_quorum = seconds_between(task["actionable_at"], times[need - 1]) if need and len(times) >= need else None
        curve = [{"s": seconds_between(task["actionable_at"], at), "answered": i} for i, at in enumerate(times, 1)]
        out.append(
            {
                "step": step.id,
                "asked": asked,
                "answered": len(times),
                "quorum": quorum,
                "time_to_quorum_s": to_quorum,
                "curve": curve,
                "accounted": (task["outputs"] or {}).get("accounted"),
            }
        )
    return out


def coverage_of(r: Reader, run: Mapping[str, Any], plan: Plan, at: datetime) -> list[dict[str, Any]]:
    """Per queue of the site's service: the share of the next 72 h covered by what the run
    staffed (as it ended, or now) and the worst gaps (most agents short first)."""
    out = []
    for queue in plan.site.service.values():
        rows = coverage.run_rows(r, run["id"], plan.site, queue, at, 72)
        gaps = sorted(coverage.gaps(rows), key=lambda g: -max(x["gap"] for x in g))[:TOP]
        out.append(
            {
                "queue": queue.id,
                "covered": round(coverage.covered_share(rows), 4),
                "intervals": len(rows),
                "worst_gaps": [
                    {
                        "window": coverage.gap_window(g),
                        "start": g[0]["start"],
                        "intervals": len(g),
                        "staffed": min(x["staffed"]["total"] for x in g),
                        "required": max(x["required"] for x in g),
                        "gap": max(x["gap"] for x in g),
                    }
                    for g in gaps
                ],
            }
        )
    return out


def notifications_of(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Messages of the run by channel: sent, pending, dead, `failed` (any attempt failed, dead
    or later delivered) and the median delay from queued to sent."""
    channels: dict[str, dict[str, Any]] = {}
    delays: dict[str, list[float]] = defaultdict(list)
    for n in rows:
        c = channels.setdefault(
            n["channel"], {"kind": n["channel_spec"].get("kind"), "sent": 0, "pending": 0, "dead": 0, "failed": 0}
        )
        c[n["state"]] = c.get(n["state"], 0) + 1
        if n["failed"]:
            c["failed"] += 1
        if n["state"] == "sent" and n["sent_at"] is not None:
            delays[n["channel"]].append((n["sent_at"] - n["created_at"]).total_seconds())
    for cid, c in channels.items():
        c["median_delay_s"] = round(statistics.median(delays[cid]), 3) if delays[cid] else None
    totals = {k: sum(c[k] for c in channels.values()) for k in ("sent", "pending", "dead", "failed")}
    return {**totals, "channels": dict(sorted(channels.items()))}


def interventions_of(r: Reader, run: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Managers' interventions on the run (skip, retry, reassign, ad-hoc task, cancel, closing a
    roll call, check-offs as overrides) and restocks of its site while it ran, with reasons."""
    out = []
    for e in entries:
        detail = e["detail"] or {}
        if e["action"] in INTERVENTIONS or (e["action"] == "task.complete" and detail.get("override")):
            action = "override" if e["action"] == "task.complete" else e["action"].partition(".")[2]
            out.append(
                {
                    "at": iso(e["at"]),
                    "actor": e["actor"],
                    "action": action,
                    "target": e["target"],
                    "reason": e["reason"],
                }
            )
    end = run["ended_at"]
    for e in r.audit(f"site:{run['site_id']}"):
        if e["action"] == "pool.restock" and e["at"] >= run["started_at"] and (end is None or e["at"] <= end):
            out.append(
                {
                    "at": iso(e["at"]),
                    "actor": e["actor"],
                    "action": "restock",
                    "target": e["target"],
                    "reason": e["reason"],
                }
            )
    return sorted(out, key=lambda x: x["at"] or "")


def findings_of(r: Reader, run: Mapping[str, Any], now: datetime) -> list[dict[str, Any]]:
    """This run's findings, and the open ones of earlier runs of the site's runbooks."""
    return [
        finding_json(f, now)
        for f in r.findings(site_id=run["site_id"])
        if f["run_id"] == run["id"] or (f["state"] == "open" and f["created_at"] <= (run["ended_at"] or now))
    ]
