"""Report: a run in the store → its after-action report (docs/api.md `GET /api/runs/{run}/report`):
scope, timeline, objectives met or missed against their deadlines with the margin, durations per
step from actionable to done (p50, p90, max; per team), bottlenecks (person-hours of waiting,
the longest blocked items, pool shortages), the roll-call response curve and time to quorum,
coverage per queue with the worst gaps, notifications per channel, every intervention with its
reason, the audit's verification, the site's findings, and a drill's score against the previous
drill of the same runbook and site. Read-only: one read transaction, every task read once.

Times are UTC; durations in real seconds (a run under RUNBOOK_TIME_SCALE reports the seconds it
took, not the scaled ones). Percentiles are nearest-rank: p50 of n sorted values is the
ceil(0.5·n)-th."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from runbooks.plan import Plan

from . import coverage, rules
from .audit_ops import AuditOps
from .errors import NotFound
from .findings import finding_json
from .objectives import objective_value
from .pools import SHORTAGE
from .progress import total
from .runstate import plan_of
from .states import OPEN
from .store import Reader, Store, utcnow
from .views import iso

INTERVENTIONS = frozenset({"task.skip", "task.retry", "task.reassign", "task.add", "run.cancel", "muster.closed"})
TOP = 10  # rows in each "worst" list


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile of `values` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    return round((b - a).total_seconds(), 3) if a is not None and b is not None else None


def _team(owner: str | None) -> str:
    if not owner:
        return "-"
    kind, _, name = owner.partition(":")
    return name if kind == "team" else owner


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


# --- objectives and the timeline ----------------------------------------------------------------


def objectives_of(r: Reader, run: Mapping[str, Any], plan: Plan, now: datetime) -> list[dict[str, Any]]:
    """Each objective: `met` only when its target was reached by its deadline (from the store's
    `met_at`); reached later is missed with a negative margin; a run that ended without it is
    missed whatever the clock says (its margin null); `outcome` is met, missed or open (still
    running, in time: the margin is the time left)."""
    met_at = r.objectives_met(run["id"])
    scale = float(run["time_scale"] or 1)
    end = run["ended_at"] or now
    out = []
    for o in plan.objectives:
        deadline = run["started_at"] + timedelta(seconds=o.within / scale)
        reached = met_at.get(o.id)
        if reached is not None:
            outcome = "met" if reached <= deadline else "missed"
            margin = _seconds(reached, deadline)
        elif end > deadline:  # not reached by the deadline: late by the time since (or until the end)
            outcome, margin = "missed", _seconds(end, deadline)
        elif run["ended_at"] is not None:  # ended in time without it: missed, and no margin to give
            outcome, margin = "missed", None
        else:
            outcome, margin = "open", _seconds(now, deadline)
        out.append(
            {
                "id": o.id,
                "name": o.name,
                "target": o.target,
                "value": objective_value(r, run, o, end),
                "met": outcome == "met",
                "outcome": outcome,
                "met_at": iso(reached),
                "deadline": iso(deadline),
                "margin_s": margin,
            }
        )
    return out


def timeline_of(
    r: Reader, run: Mapping[str, Any], plan: Plan, rows: Sequence[Mapping[str, Any]], objectives: Sequence[Mapping]
) -> list[dict[str, Any]]:
    """Declared, started, objectives met or missed, each step's last item ended (a milestone),
    status updates (`run.update`), ended — in time order."""
    items: list[dict[str, Any]] = []
    if run["lockdown_id"]:
        lockdown = r.lockdown(run["lockdown_id"])
        if lockdown is not None:
            items.append({"at": iso(lockdown["declared_at"]), "what": "declared", "by": lockdown["declared_by"]})
    items.append({"at": iso(run["started_at"]), "what": "started", "by": run["started_by"]})
    for o in objectives:
        if o["met_at"]:
            items.append(
                {"at": o["met_at"], "what": "objective.met" if o["met"] else "objective.late", "objective": o["id"]}
            )
        if not o["met"] and o["outcome"] == "missed":
            at = o["deadline"] if o["met_at"] or o["margin_s"] is not None else iso(run["ended_at"])
            items.append({"at": at, "what": "objective.missed", "objective": o["id"]})
    by_step: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for t in rows:
        by_step[t["step_id"]].append(t)
    for step in plan.steps:
        mine = by_step.get(step.id) or []
        if mine and all(t["state"] not in OPEN for t in mine):
            last = max((t["ended_at"] for t in mine if t["ended_at"]), default=None)
            if last is not None:
                items.append({"at": iso(last), "what": "step.ended", "step": step.id, "name": step.name})
    for e in r.events_named(run["id"], "run.update"):
        items.append({"at": iso(e["at"]), "what": "run.update", "text": (e["data"] or {}).get("text")})
    if run["ended_at"]:
        items.append({"at": iso(run["ended_at"]), "what": f"run.{run['state']}", "reason": run["reason"]})
    return sorted(items, key=lambda x: x["at"] or "")


# --- steps and bottlenecks ----------------------------------------------------------------------


def _stats(durations: Sequence[float]) -> dict[str, Any]:
    return {
        "p50_s": percentile(durations, 0.5),
        "p90_s": percentile(durations, 0.9),
        "max_s": max(durations) if durations else None,
        "done": len(durations),
    }


def steps_of(plan: Plan, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per step (the runbook's order, then ad-hoc tasks): durations of its done tasks from
    actionable to done, overall and per owning team; `waiting` its tasks not ended yet."""
    durations: dict[str, list[float]] = defaultdict(list)
    per_team: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    open_: dict[str, int] = defaultdict(int)
    seen: dict[str, None] = {}
    for t in rows:
        seen.setdefault(t["step_id"])
        if t["state"] in OPEN:
            open_[t["step_id"]] += 1
        if t["state"] == "done":
            took = _seconds(t["actionable_at"], t["ended_at"])
            if took is not None:
                durations[t["step_id"]].append(took)
                per_team[t["step_id"]][_team(t["owner"])].append(took)
    order = [s.id for s in plan.steps] + [s for s in seen if plan.find(s) is None]
    out = []
    for step_id in order:
        if step_id not in seen:
            continue
        step = plan.find(step_id)
        out.append(
            {
                "id": step_id,
                # an item's title is an expression of the item: the step is named by its id then
                "name": step.name if step is not None and "${{" not in step.name else step_id,
                "kind": step.kind if step is not None else "manual",
                **_stats(durations[step_id]),
                "waiting": open_[step_id],
                "teams": {team: _stats(d) for team, d in sorted(per_team[step_id].items())},
            }
        )
    return out


def bottlenecks_of(
    entries: Sequence[Mapping[str, Any]], rows: Sequence[Mapping[str, Any]], end: datetime
) -> dict[str, Any]:
    """Where time went: person-hours held by human tasks from actionable to ended (or now), by
    step and by team; the items blocked longest for want of stock (from `actionable` to the
    `pool.allocate` that served them); each shortage from its `pool.shortage` row until the
    last item it blocked was served (open while one still waits)."""
    held_step: dict[str, float] = defaultdict(float)
    held_team: dict[str, float] = defaultdict(float)
    by_id = {t["id"]: t for t in rows}
    for t in rows:
        if t["actionable_at"] is None or t["kind"] not in ("manual", "approval", "muster", "allocate", "calls"):
            continue
        seconds = _seconds(t["actionable_at"], t["ended_at"] or end) or 0.0
        held_step[t["step_id"]] += seconds
        held_team[_team(t["owner"])] += seconds
    served_at: dict[str, datetime] = {}
    for e in entries:
        if e["action"] == "pool.allocate" and e["target"] not in served_at:
            served_at[e["target"]] = e["at"]
    blocked = []
    for t in rows:
        if t["kind"] != "allocate" or t["actionable_at"] is None:
            continue
        served = served_at.get(t["id"])
        still = served is None and t["state"] == "ready" and (t["reason"] or "").startswith(SHORTAGE)
        waited = _seconds(t["actionable_at"], end if still else served)
        if waited:
            blocked.append({"task": t["id"], "step": t["step_id"], "seconds": waited, "open": still})
    blocked.sort(key=lambda b: -b["seconds"])
    shortages = []
    told = [e for e in entries if e["action"] == "pool.shortage"]
    for k, e in enumerate(told):
        # this shortage's items: blocked in its step from its start until the step's next shortage
        nxt = next((x["at"] for x in told[k + 1 :] if x["target"] == e["target"]), None)
        mine = [
            b
            for b in blocked
            if b["step"] == e["target"]
            and (b["open"] or served_at[b["task"]] >= e["at"])
            and (nxt is None or by_id[b["task"]]["actionable_at"] < nxt)
        ]
        ongoing = any(b["open"] for b in mine)
        last = max((served_at[b["task"]] for b in mine if b["task"] in served_at), default=None)
        until = end if ongoing or last is None else last
        shortages.append(
            {
                "pool": (e["detail"] or {}).get("pool"),
                "step": e["target"],
                "at": iso(e["at"]),
                "until": None if ongoing else iso(until),
                "seconds": _seconds(e["at"], until),
                "items": len(mine),
            }
        )
    return {"steps": _hours(held_step), "teams": _hours(held_team), "blocked": blocked[:TOP], "shortages": shortages}


def _hours(held: Mapping[str, float]) -> list[dict[str, Any]]:
    top = sorted(held.items(), key=lambda kv: -kv[1])[:TOP]
    return [{"id": k, "person_hours": round(v / 3600, 3)} for k, v in top]


# --- roll calls, coverage, notifications, interventions -----------------------------------------


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
        to_quorum = _seconds(task["actionable_at"], times[need - 1]) if need and len(times) >= need else None
        curve = [{"s": _seconds(task["actionable_at"], at), "answered": i} for i, at in enumerate(times, 1)]
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
