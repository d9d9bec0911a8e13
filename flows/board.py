"""Dashboard data, as the Engine's part: the sites overview, a run's board (phases, the
per-person funnel, objectives with their burn-up and forecast, the step graph, overdue and
blocked lists), a lead's tasks and a task's page. JSON-shaped: the API returns it as is and
the dashboard renders the same dict, so every page has its JSON twin."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from runbooks.plan import Plan, PlannedStep

from . import muster, rules
from .actors import Actor, ownership
from .errors import NotFound
from .kinds import KINDS, RUNNER_KINDS
from .runstate import plan_of
from .states import ACTIVE, STATES, TERMINAL
from .store import Store, utcnow
from .views import iso, run_json, task_json

BOARD_TTL = 5.0  # seconds a run's board is reused while no event happened in the run
_CACHE: dict[tuple[str, str], tuple[int, float, dict[str, Any]]] = {}
_FLIGHTS: dict[tuple[str, str], threading.Lock] = {}
_CACHE_LOCK = threading.Lock()
LIST_LIMIT = 50  # rows of the overdue and blocked lists (their counts are exact)
MY_LIMIT = 500
# Kinds whose `ready` tasks are held, not queued for the runner (an allocation waiting for stock).
HELD_KINDS = sorted(set(KINDS) - RUNNER_KINDS)


class BoardOps:
    def __init__(self, store: Store):
        self.store = store

    def overview(self) -> dict[str, Any]:
        """Each site in lockdown or with a running run: its runs, progress, objectives, trouble."""
        now = utcnow()
        with self.store.read() as r:
            lockdowns = {row["site_id"]: row for row in r.active_lockdowns()}
            rows = [
                row
                for row in r.runs()
                if row["state"] == "running"
                or (row["site_id"] in lockdowns and row["lockdown_id"] == lockdowns[row["site_id"]]["id"])
            ]
            sites: dict[str, dict[str, Any]] = {}
            for site_id, lockdown in lockdowns.items():
                sites[site_id] = _site_head(site_id, lockdown)
            for row in rows:
                plan = plan_of(row, r)
                site = sites.setdefault(row["site_id"], _site_head(row["site_id"], None))
                site["name"] = plan.site.name
                site["timezone"] = plan.site.timezone
                site["runs"].append(_run_summary(r, row, plan, now))
        return {"generated_at": iso(now), "sites": sorted(sites.values(), key=lambda s: s["id"])}

    def board(self, run_id: str) -> dict[str, Any]:
        """A run's board. Cached per run until its next event (or BOARD_TTL seconds, for what
        time alone changes): 200 people watching one run cost one computation a change."""
        with self.store.read() as r:
            seq = r.last_event_seq(run_id)
        key = (self.store.url, run_id)
        with _CACHE_LOCK:
            flight = _FLIGHTS.setdefault(key, threading.Lock())
        with flight:  # viewers woken by the same event wait for one computation
            with _CACHE_LOCK:
                hit = _CACHE.get(key)
            if hit is not None and hit[0] >= seq and time.monotonic() - hit[1] < BOARD_TTL:
                return hit[2]
            data = self.compute_board(run_id)
            with _CACHE_LOCK:
                if len(_CACHE) >= 64:
                    _FLIGHTS.pop(next(iter(_CACHE)), None)
                    _CACHE.pop(next(iter(_CACHE)))
                _CACHE[key] = (data["last_event"], time.monotonic(), data)
            return data

    def compute_board(self, run_id: str) -> dict[str, Any]:
        now = utcnow()
        with self.store.read() as r:
            row = _head(r, run_id)
            plan = plan_of(row, r)
            stats = r.step_stats(run_id)
            run = run_json(
                r, row, plan, {step: {state: n for state, (n, _) in states.items()} for step, states in stats.items()}
            )
            overdue_n, overdue = r.overdue_tasks(run_id, now, LIST_LIMIT)
            blocked_n, blocked = r.blocked_tasks(run_id, HELD_KINDS, LIST_LIMIT)
            objectives = [_objective(r, row, plan, o, now) for o in run["objectives"]]
            musters = [s.id for s in plan.steps if s.kind == "muster"]
            last_event = r.last_event_seq(run_id)
        return {
            "run": run,
            "site": _site_json(plan),
            "generated_at": iso(now),
            "phases": _phases(plan, stats),
            "funnel": _funnel(plan, stats, now),
            "objectives": objectives,
            "graph": _graph(plan, stats),
            "overdue": {"count": overdue_n, "tasks": [task_json(t, now) for t in overdue]},
            "blocked": {"count": blocked_n, "tasks": [task_json(t, now) for t in blocked]},
            "musters": musters,
            "last_event": last_event,
        }

    def board_site(self, run_id: str) -> dict[str, Any]:
        """The site a run is for: id, name, timezone, language (without its roster)."""
        with self.store.read() as r:
            row = _head(r, run_id)
            return _site_json(plan_of(row, r))

    def my_tasks(self, actor: Actor) -> dict[str, Any]:
        """The tasks the actor owns in every running run: their teams', their own, their role's."""
        now = utcnow()
        out = []
        with self.store.read() as r:
            for row in r.runs(states=["running"]):
                owners = owners_of(actor, row["site_id"])
                if not owners:
                    continue
                plan = plan_of(row, r)
                rows = r.tasks_owned(row["id"], owners, sorted(ACTIVE), MY_LIMIT)
                if rows:
                    out.append(
                        {
                            "run": row["id"],
                            "runbook": row["runbook_id"],
                            "name": plan.name,
                            "last_event": r.last_event_seq(row["id"]),
                            "site": row["site_id"],
                            "site_name": plan.site.name,
                            "drill": bool(row["drill"]),
                            "tasks": [{**task_json(t, now), "form": _form(plan, t)} for t in rows],
                        }
                    )
        return {"runs": out, "generated_at": iso(now)}

    def task_page(self, run_id: str, task_id: str, actor: Actor) -> dict[str, Any]:
        """A task, its check-offs, the fields its check-off takes, and what the actor may do."""
        now = utcnow()
        with self.store.read() as r:
            row = _head(r, run_id)
            task = r.task(run_id, task_id)
            if task is None:
                raise NotFound(f'run {run_id} has no task "{task_id}"')
            plan = plan_of(row, r)
            last_event = r.last_event_seq(run_id)
            history = [
                {
                    "action": c["action"],
                    "actor": c["actor"],
                    "at": iso(c["at"]),
                    "note": c["note"],
                    "reason": c["reason"],
                    "fields": c["fields"],
                }
                for c in r.checkoffs(run_id, task_id)
            ]
        rel = ownership(actor, task["owner"], row["site_id"])
        actionable = task["state"] == "waiting" and rel != "deny" and actor.role in ("team_lead", "manager", "operator")
        form = _form(plan, task)
        return {
            "run": {
                "id": row["id"],
                "runbook": row["runbook_id"],
                "name": plan.name,
                "site": row["site_id"],
                "state": row["state"],
                "drill": bool(row["drill"]),
                "last_event": last_event,
            },
            "site": _site_json(plan),
            "task": task_json(task, now),
            "checkoffs": history,
            "form": form,
            "may": {
                "act": actionable and form["kind"] in ("complete", "approve"),
                "override": rel == "override",
                "intervene": actor.manages and row["state"] == "running",
            },
        }

    def call_list(self, run_id: str, step_id: str) -> dict[str, Any]:
        """A roll call's people who have not answered, by team with its leads: to call, on paper."""
        with self.store.read() as r:
            row = _head(r, run_id)
            plan = plan_of(row, r)
            if step_id not in {s.id for s in plan.steps if s.kind == "muster"}:
                raise NotFound(f'run {run_id} has no roll call "{step_id}"')
            teams = muster.unanswered_by_team(r, run_id, step_id, plan.site)
            task = r.task(run_id, step_id)
        people = {p["id"]: p for p in plan.site.staff}
        out = []
        for team_id, calls in sorted(teams.items()):
            team = plan.site.teams.get(team_id, {})
            out.append(
                {
                    "team": team_id,
                    "name": team.get("name", team_id),
                    "leads": [
                        {
                            "id": lead,
                            "name": people.get(lead, {}).get("name", lead),
                            "phone": people.get(lead, {}).get("phone") or "",
                        }
                        for lead in team.get("leads", [])
                    ],
                    "calls": calls,
                }
            )
        return {
            "run": run_id,
            "step": step_id,
            "site": _site_json(plan),
            "state": task["state"] if task else None,
            "teams": out,
            "total": sum(len(t["calls"]) for t in out),
            "generated_at": iso(utcnow()),
        }


def _head(r, run_id: str) -> dict[str, Any]:
    row = r.run_head(run_id)
    if row is None:
        raise NotFound(rules.unknown_run(r, run_id))
    return row


def owners_of(actor: Actor, site_id: str) -> list[str]:
    """The owner strings whose tasks are the actor's own at a site."""
    owners = [f"team:{team}" for site, team in actor.teams if site == site_id]
    if actor.staff_id:
        owners.append(f"person:{actor.staff_id}")
    if actor.role in ("manager",):
        owners.append(f"role:{actor.role}")
    return owners


def _site_head(site_id: str, lockdown: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "id": site_id,
        "name": site_id,
        "timezone": "UTC",
        "runs": [],
        "lockdown": {
            "declared_at": iso(lockdown["declared_at"]),
            "declared_by": lockdown["declared_by"],
            "drill": bool(lockdown["drill"]),
        }
        if lockdown
        else None,
    }


def _site_json(plan: Plan) -> dict[str, Any]:
    return {"id": plan.site.id, "name": plan.site.name, "timezone": plan.site.timezone, "lang": plan.site.lang}


def _run_summary(r, row: Mapping[str, Any], plan: Plan, now: datetime) -> dict[str, Any]:
    run = run_json(r, row, plan)
    total = sum(run["counts"].values())
    ended = sum(n for s, n in run["counts"].items() if s in TERMINAL)
    overdue_n, _ = r.overdue_tasks(row["id"], now, 0)
    blocked_n, _ = r.blocked_tasks(row["id"], HELD_KINDS, 0)
    return {
        "id": run["id"],
        "runbook": run["runbook"],
        "name": run["name"],
        "state": run["state"],
        "drill": run["drill"],
        "started_at": run["started_at"],
        "progress": round(ended / total, 4) if total else 0.0,
        "tasks": total,
        "ended": ended,
        "overdue": overdue_n,
        "blocked": blocked_n,
        "last_event": r.last_event_seq(row["id"]),
        "objectives": [_objective(r, row, plan, o, now) for o in run["objectives"]],
    }


# --- a run's board ------------------------------------------------------------------------------


def _count(states: Mapping[str, tuple[int, Any]], names: Sequence[str]) -> int:
    return sum(states[s][0] for s in names if s in states)


def _oldest(states: Mapping[str, tuple[int, datetime | None]], names: Sequence[str]) -> datetime | None:
    times = [states[s][1] for s in names if s in states and states[s][1] is not None]
    return min(times) if times else None


def _step_json(step: PlannedStep, states: Mapping[str, tuple[int, Any]]) -> dict[str, Any]:
    total = _count(states, list(states))
    cancelled = _count(states, ["cancelled"])
    ended = _count(states, sorted(TERMINAL))
    return {
        "id": step.id,
        "kind": step.kind,
        "owner": step.owner,
        "fan_out": step.fan_out,
        "total": total,
        "done": _count(states, ["done"]),
        "ended": ended,
        "active": _count(states, ACTIVE),
        "failed": _count(states, ["failed", "rejected"]),
        "states": {s: n for s, (n, _) in states.items()},
        "progress": round((ended - cancelled) / (total - cancelled), 4) if total - cancelled > 0 else 0.0,
        "state": _aggregate(states),
    }


def _aggregate(states: Mapping[str, Any]) -> str:
    names = {s for s, v in states.items() if (v[0] if isinstance(v, tuple) else v)}
    if not names:
        return "pending"
    if names & {"failed", "rejected"}:
        return "failed"
    if names & set(ACTIVE):
        return "active"
    if names <= TERMINAL:
        return "done" if "done" in names else "skipped"
    return "pending"


def _phases(plan: Plan, stats: Mapping[str, Mapping[str, tuple[int, Any]]]) -> list[dict[str, Any]]:
    phases: dict[str, list[dict[str, Any]]] = {}
    for step in plan.steps:
        phases.setdefault(step.phase or "steps", []).append(_step_json(step, stats.get(step.id, {})))
    out = []
    for name, steps in phases.items():
        total = sum(s["total"] for s in steps)
        ended = sum(s["ended"] for s in steps)
        out.append({"id": name, "steps": steps, "progress": round(ended / total, 4) if total else 0.0})
    return out


def _funnel(plan: Plan, stats: Mapping[str, Mapping[str, tuple[int, Any]]], now: datetime) -> dict[str, Any] | None:
    """The per-person pipeline: the longest chain of fan-out steps over one collection, fed by a
    roll call. Stage k: how many reached it (its task done) and how many are stuck at it
    (actionable, not done) since when."""
    groups: dict[Any, list[PlannedStep]] = {}
    for step in plan.steps:
        if step.fan_out and step.streams_from:
            groups.setdefault(step.for_each, []).append(step)
    if not groups:
        return None
    chain = max(groups.values(), key=len)
    first = stats.get(chain[0].id, {})
    entered = _count(first, [s for s in first if s != "cancelled"])
    stages = [
        {
            "id": "answered",
            "kind": "muster",
            "reached": entered,
            "stuck": 0,
            "stuck_since": None,
            "stuck_for_s": None,
            "blocked": 0,
            "failed": 0,
        }
    ]
    for step in chain:
        states = stats.get(step.id, {})
        oldest = _oldest(states, ACTIVE)
        stages.append(
            {
                "id": step.id,
                "kind": step.kind,
                "reached": _count(states, ["done"]),
                "stuck": _count(states, ACTIVE),
                "stuck_since": iso(oldest),
                "stuck_for_s": int((now - oldest).total_seconds()) if oldest else None,
                "blocked": _count(states, ["ready"]) if step.kind in HELD_KINDS else 0,
                "failed": _count(states, ["failed", "rejected"]),
            }
        )
    return {"muster": chain[0].streams_from, "stages": stages}


def _objective(r, row: Mapping[str, Any], plan: Plan, o: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """An objective with its burn-up series [(time, value)] (at most SERIES_POINTS points) and an
    ETA from the current rate (progress over the last third of the time elapsed, else since the
    start)."""
    spec = next(x for x in plan.objectives if x.id == o["id"])
    start = row["started_at"]
    deadline = datetime.fromisoformat(o["deadline"])
    end = now if row["state"] == "running" else (row["ended_at"] or now)
    series = _series(r, row, spec, start, max(deadline, end))
    running = row["state"] == "running"
    if o["met_at"]:
        eta = datetime.fromisoformat(o["met_at"])
    else:  # the rate from the series itself (the value shown may be rounded); none for an ended run
        eta = forecast_eta(series, spec.target, start, end, deadline) if running else None
    return {
        **o,
        "measure": spec.measure,
        "step": spec.step,
        "series": [[iso(t), round(v, 4)] for t, v in series],
        "eta": iso(eta),
        "on_track": bool(o["met"] or (eta is not None and eta <= deadline)),
        "open": running,
        "time_left_s": int((deadline - end).total_seconds()),
        "started_at": iso(start),
        "now": iso(end),
    }


SERIES_POINTS = 120


def _series(r, row: Mapping[str, Any], spec, start: datetime, until: datetime) -> list[tuple[datetime, float]]:
    """Cumulative progress at the end of each bucket that saw some: done tasks of the step, or
    the share of people who answered a roll call (their first answer)."""
    bucket = max((until - start).total_seconds() / SERIES_POINTS, 0.001)
    task = r.task(row["id"], spec.step) if spec.measure == "ratio" else None
    answers = task is not None and task["kind"] == "muster"
    if spec.measure == "count":
        scale = 1.0
    elif answers:
        scale = float((task["outputs"] or {}).get("asked") or 1)
    else:
        scale = float(r.count_tasks(row["id"], steps=[spec.step], states=[s for s in STATES if s != "cancelled"]) or 1)
    series, total = [(start, 0.0)], 0
    for b, n in r.progress_buckets(row["id"], spec.step, start, bucket, answers=answers):
        total += n
        series.append((start + timedelta(seconds=(b + 1) * bucket), total / scale))
    return series


def forecast_eta(
    series: list[tuple[datetime, float]], target: float, start: datetime, now: datetime, deadline: datetime
) -> datetime | None:
    """When the target is reached at the current rate; None without progress, or when that is
    further than ten times the objective's whole window (no forecast is better than 97 days)."""
    elapsed = (now - start).total_seconds()
    value = series[-1][1]
    if value <= 0 or elapsed <= 0:
        return None
    window_start = now - timedelta(seconds=elapsed / 3)
    before = max((v for t, v in series if t <= window_start), default=0.0)
    rate = (value - before) / (elapsed / 3)
    if rate <= 1e-9:
        rate = value / elapsed
    seconds = max(target - value, 0.0) / rate
    if seconds > 10 * max((deadline - start).total_seconds(), elapsed):
        return None
    return now + timedelta(seconds=seconds)


def _graph(plan: Plan, stats: Mapping[str, Mapping[str, tuple[int, Any]]]) -> dict[str, Any]:
    """Steps in columns by depth (longest chain of needs), edges from needs."""
    depth: dict[str, int] = {}
    for step in plan.steps:  # dependency order
        depth[step.id] = 1 + max((depth[n] for n in step.needs), default=-1)
    rows: dict[int, int] = {}
    nodes = []
    for step in plan.steps:
        d = depth[step.id]
        states = stats.get(step.id, {})
        done, total = _count(states, ["done"]), _count(states, list(states))
        nodes.append(
            {
                "id": step.id,
                "kind": step.kind,
                "depth": d,
                "row": rows.get(d, 0),
                "state": _aggregate(states),
                "done": done,
                "total": total,
            }
        )
        rows[d] = rows.get(d, 0) + 1
    edges = [[n, step.id] for step in plan.steps for n in step.needs]
    return {"nodes": nodes, "edges": edges}


def _form(plan: Plan, task: Mapping[str, Any]) -> dict[str, Any]:
    """What acting on a task takes: check off (with its fields), approve/reject, or nothing here."""
    try:
        step = plan.step(task["step_id"])
    except KeyError:
        step = None  # an ad-hoc task
    if step is None or step.kind == "manual":
        fields = dict(step.params.get("fields", {})) if step else {}
        return {"kind": "complete", "fields": [_field(k, v) for k, v in fields.items()]}
    if step.kind == "allocate":  # the hand-over is confirmed by typing the key of the item handed over
        pool = plan.site.pools.get(step.params.get("pool"))
        expected = (task.get("outputs") or {}).get(pool.key) if pool else None
        return {
            "kind": "complete",
            "fields": [
                _field(
                    "asset",
                    {"type": "string", "required": True, "description": pool.key if pool else "asset"},
                    expected,
                )
            ],
        }
    if step.kind == "approval":
        return {"kind": "approve", "fields": []}
    return {"kind": "none", "fields": []}


def _field(name: str, spec: Mapping[str, Any], expected: Any = None) -> dict[str, Any]:
    return {
        "name": name,
        "type": spec.get("type", "string"),
        "required": bool(spec.get("required")),
        "description": spec.get("description"),
        "options": list(spec.get("options") or []),
        "expected": expected,
    }
