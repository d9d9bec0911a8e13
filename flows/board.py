"""Dashboard data, as the Engine's part: the sites overview, a run's board (phases, the
per-person funnel, objectives with their burn-up and forecast, the step graph, overdue and
blocked lists), a lead's tasks and a task's page. JSON-shaped: the API returns it as is and
the dashboard renders the same dict, so every page has its JSON twin."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from runbooks.plan import Plan

from . import call_tasks, forecast, muster, rules
from .actors import Actor, ownership
from .board_shapes import HELD_KINDS, TIMELINE_EVENTS, form_of, funnel, graph, objective_view, phases, timeline_entry
from .errors import NotFound
from .findings import finding_json
from .headcount import unanswered_by_team
from .kinds import kind_of
from .kinds.base import people_choices
from .library_ops import LibraryOps
from .runstate import RunState, plan_of
from .states import ACTIVE, TERMINAL
from .store import Store, utcnow
from .views import iso, run_json, task_json

BOARD_TTL = 5.0  # seconds a run's board is reused while no event happened in the run
_CACHE: dict[tuple[str, str], tuple[int, tuple[int, Any], float, dict[str, Any]]] = {}
_FLIGHTS: dict[tuple[str, str], threading.Lock] = {}
_CACHE_LOCK = threading.Lock()
LIST_LIMIT = 50  # rows of the overdue and blocked lists (their counts are exact)
MY_LIMIT = 500


class BoardOps:
    def __init__(self, store: Store):
        self.store = store

    def overview(self) -> dict[str, Any]:
        """Every site of the library, and any other with a running run or open findings: in
        lockdown or not (a manager declares one from there), its runs, progress, objectives,
        trouble, and its open findings."""
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
            for f in r.findings(open_only=True):  # open findings of a review, until closed
                sites.setdefault(f["site_id"], _site_head(f["site_id"], None))["findings"].append(finding_json(f, now))
        for known in LibraryOps().sites():
            head = sites.setdefault(known["id"], _site_head(known["id"], None))
            head.update(name=known["name"], timezone=known["timezone"], kind=known["kind"])
        return {"generated_at": iso(now), "sites": sorted(sites.values(), key=lambda s: s["id"])}

    def board(self, run_id: str) -> dict[str, Any]:
        """A run's board. Cached per run until its next event or its next stored forecast (or
        BOARD_TTL seconds, for what time alone changes): 200 people watching one run cost one
        computation a change."""
        with self.store.read() as r:
            seq = r.last_event_seq(run_id)
            stamp = r.forecast_stamp(run_id)  # read before the board: a newer one recomputes it
        key = (self.store.url, run_id)
        with _CACHE_LOCK:
            flight = _FLIGHTS.setdefault(key, threading.Lock())
        with flight:  # viewers woken by the same event wait for one computation
            with _CACHE_LOCK:
                hit = _CACHE.get(key)
            if hit is not None and hit[0] >= seq and hit[1] == stamp and time.monotonic() - hit[2] < BOARD_TTL:
                return hit[3]
            data = self.compute_board(run_id)
            with _CACHE_LOCK:
                if len(_CACHE) >= 64:
                    _FLIGHTS.pop(next(iter(_CACHE)), None)
                    _CACHE.pop(next(iter(_CACHE)))
                _CACHE[key] = (data["last_event"], stamp, time.monotonic(), data)
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
            run["objectives"] = forecast.forecasts(r, row, plan, run["objectives"])
            objectives = [objective_view(r, row, plan, o, now) for o in run["objectives"]]
            musters = [s.id for s in plan.steps if s.kind == "muster"]
            last_event = r.last_event_seq(run_id)
            timeline = [timeline_entry(e) for e in r.events_among(run_id, TIMELINE_EVENTS)]
            lockdown = r.active_lockdown(plan.site.id)
        return {
            "run": run,
            "site": _site_json(plan) | {"in_lockdown": lockdown is not None},
            "generated_at": iso(now),
            "phases": phases(plan, stats),
            "funnel": funnel(plan, stats, now),
            "objectives": objectives,
            "graph": graph(plan, stats),
            "overdue": {"count": overdue_n, "tasks": [task_json(t, now) for t in overdue]},
            "blocked": {"count": blocked_n, "tasks": [task_json(t, now) for t in blocked]},
            "musters": musters,
            # roll calls with a headcount to show (opened: waiting for answers, or past their gate)
            "open_musters": [m for m in musters if set(stats.get(m, {})) & {"waiting", "done"}],
            "last_event": last_event,
            "timeline": timeline,  # status updates and milestones, oldest first (the latest 200)
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
                            "tasks": [{**task_json(t, now, plan), "form": form_of(plan, t)} for t in rows],
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
            form = form_of(plan, task)
            if task["state"] == "waiting":
                form = with_people(r, row, plan, task, form, actor, now)
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
            following = _next_of(r, row, task, actor)
        rel = ownership(actor, task["owner"], row["site_id"])
        actionable = task["state"] == "waiting" and rel != "deny" and actor.role in ("team_lead", "manager", "operator")
        intervene = actor.manages and row["state"] == "running"
        state = task["state"]
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
            "task": task_json(task, now, plan),
            # an item for a person of the roster: their page shows their whole pipeline
            "person": _person_of(plan, task),
            # a roll call's task, or a team's call task: the roll call whose call list it shows
            "roll_call": _roll_call_of(task),
            "checkoffs": history,
            "form": form,
            "may": {
                "act": actionable
                and form["kind"] in ("complete", "approve")
                and kind_of(task["kind"]).refuse_check_off(task) is None,
                "override": rel == "override",
                "intervene": intervene,
                # what the engine would accept (flows/task_ops.py): no Skip on an ended task
                "skip": intervene and (state not in TERMINAL or state == "failed"),
                "retry": intervene and state == "failed",
                "reassign": intervene and state not in TERMINAL,
            },
            # the next waiting task of the same step the actor owns (after a check-off: on to it)
            "next": following,
        }

    def call_list(self, run_id: str, step_id: str, actor: Actor | None = None) -> dict[str, Any]:
        """A roll call's people who have not answered, by team with its leads: to call and record
        their answers. A manager (or no actor: the local operator's CLI) sees every team; a lead
        their own teams only, with their numbers."""
        with self.store.read() as r:
            row = _head(r, run_id)
            plan = plan_of(row, r)
            step = plan.find(step_id)
            if step is None or step.kind != "muster":
                raise NotFound(f'run {run_id} has no roll call "{step_id}"')
            teams = unanswered_by_team(r, run_id, step_id, plan.site)
            task = r.task(run_id, step_id)
        if actor is not None and not actor.manages:
            teams = {t: c for t, c in teams.items() if ownership(actor, f"team:{t}", row["site_id"]) != "deny"}
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
            "open": row["state"] == "running" and muster.takes_answers(task),
            "closed": muster.closed_by(task),
            "options": list(step.params["options"].items()),
            "teams": out,
            "total": sum(len(t["calls"]) for t in out),
            "generated_at": iso(utcnow()),
        }


def with_people(
    r: Any,
    row: Mapping[str, Any],
    plan: Plan,
    task: Mapping[str, Any],
    form: dict[str, Any],
    actor: Actor,
    now: datetime,
) -> dict[str, Any]:
    """A check-off form whose `people` fields list the people to tick (rendered in a read: the
    run's expression context only reads)."""
    step = plan.find(task["step_id"])
    if step is None or not any(f["type"] == "people" for f in form["fields"]):
        return form
    rs = RunState(r, dict(row), plan, now, actor.identity)
    specs = step.params.get("fields", {})
    fields = [
        {**f, "options": people_choices(rs, step, task, specs[f["name"]])} if f["type"] == "people" else f
        for f in form["fields"]
    ]
    return {**form, "fields": fields}


def _roll_call_of(task: Mapping[str, Any]) -> str | None:
    if kind_of(task["kind"]).answered:
        return str(task["step_id"])
    if task["kind"] == call_tasks.KIND:
        return (task["item"] or {}).get("roll_call")
    return None


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


def _next_of(r, row: Mapping[str, Any], task: Mapping[str, Any], actor: Actor) -> dict[str, Any] | None:
    owners = owners_of(actor, row["site_id"])
    if not owners:
        return None
    for other in r.tasks_owned(row["id"], owners, ["waiting"], MY_LIMIT):
        if other["step_id"] == task["step_id"] and other["id"] != task["id"]:
            return {"id": other["id"], "title": other["title"]}
    return None


def _site_head(site_id: str, lockdown: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "id": site_id,
        "name": site_id,
        "timezone": "UTC",
        "runs": [],
        "findings": [],
        "lockdown": {
            "declared_at": iso(lockdown["declared_at"]),
            "declared_by": lockdown["declared_by"],
            "drill": bool(lockdown["drill"]),
        }
        if lockdown
        else None,
    }


def _person_of(plan: Plan, task: Mapping[str, Any]) -> dict[str, Any] | None:
    person = plan.site.person(task["item_key"]) if task["item_key"] else None
    return {"id": person["id"], "name": person["name"]} if person else None


def _site_json(plan: Plan) -> dict[str, Any]:
    return {"id": plan.site.id, "name": plan.site.name, "timezone": plan.site.timezone, "lang": plan.site.lang}


def _run_summary(r, row: Mapping[str, Any], plan: Plan, now: datetime) -> dict[str, Any]:
    run = run_json(r, row, plan)
    overdue_n, _ = r.overdue_tasks(row["id"], now, 0)
    blocked_n, _ = r.blocked_tasks(row["id"], HELD_KINDS, 0)
    return {
        "id": run["id"],
        "runbook": run["runbook"],
        "name": run["name"],
        "state": run["state"],
        "drill": run["drill"],
        "started_at": run["started_at"],
        "progress": run["progress"],
        "overdue": overdue_n,
        "blocked": blocked_n,
        "last_event": r.last_event_seq(row["id"]),
        "objectives": [
            objective_view(r, row, plan, o, now) for o in forecast.forecasts(r, row, plan, run["objectives"])
        ],
    }


# --- a run's board ------------------------------------------------------------------------------
