"""Forecasts of a run's objectives: the run in the store (tasks done, open, blocked; answers in;
stock left; the pace observed) → the simulation's Model (runbooks/simulate.py) → per objective
`forecast: {p50, p90, probability, as_of, computed_at}` (ISO 8601 UTC) and
`state: met|on_track|at_risk|missed|pending`.

Two halves. `simulate_run` (numpy, the Monte-Carlo trials) is called only by the forecaster
(flows/forecaster.py), in the background, which stores its result in the `forecasts` table
keyed by run with the event seq it reflects. `forecasts` is the readers' half (the run JSON,
the board, the start reply): it reads the stored result and never simulates, so a read costs
one row however big the run is. `as_of` is the seq the forecast reflects: a reader that needs
the forecast of a change waits until `as_of` ≥ that change's seq. A running run not forecast
yet has `forecast: null` and, unless met or past its deadline, state `pending`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from runbooks.plan import Plan
from runbooks.simulate import LEAD_CHECKOFF, TRIALS, Answers, Model, StepModel, posterior, simulate, summary
from runbooks.simulate_plan import CHECKED_OFF, GROUP, objective_model, step_model

from . import pools
from .store import Reader, utcnow
from .views import iso

ON_TRACK = 0.8  # probability of reaching it by its deadline from which an objective is on track
FULL_TRIALS_ITEMS = 2000  # runs with up to this many items to simulate get every trial
MIN_TRIALS = 200  # bigger runs get proportionally fewer trials, never fewer than this
GAP_CAP = 3600.0  # a gap between a team's check-offs longer than this is idle time, not pace
DEAD = frozenset({"failed", "rejected", "skipped", "cancelled"})
OPEN = frozenset({"waiting", "ready", "running"})


def run_model(
    reader: Reader, run: Mapping[str, Any], plan: Plan, now: datetime, stock_site: str | None = None
) -> Model:
    start = run["started_at"]
    scale = float(run["time_scale"] or 1)

    def at(t: datetime | None) -> float:
        return math.nan if t is None else (t - start).total_seconds()

    tasks = [t for t in reader.tasks(run["id"]) if not t["adhoc"]]
    by_step: dict[str, list[dict[str, Any]]] = {}
    for t in tasks:
        by_step.setdefault(t["step_id"], []).append(t)
    keys: dict[str, list[str]] = {}
    for step in plan.steps:
        if step.fan_out:
            found = keys.setdefault(str(step.for_each), [])
            seen = set(found)
            for t in by_step.get(step.id, []):
                if t["item_key"] not in seen:
                    seen.add(t["item_key"])
                    found.append(t["item_key"])
    steps: list[StepModel] = []
    collections: dict[str, Answers | None] = {}
    answers_of: dict[str, tuple] = {}
    for step in plan.steps:
        m = step_model(step, scale)
        rows = by_step.get(step.id, [])
        observed = [
            (t["ended_at"] - t["actionable_at"]).total_seconds()
            for t in rows
            if t["state"] == "done" and t["actionable_at"] and t["ended_at"]
        ]
        if not m.fixed:
            m.median, m.sigma = posterior(m.median, observed, m.sigma)
        order = keys[str(step.for_each)] if step.fan_out else [None]
        index = {k: i for i, k in enumerate(order)}
        n = len(order)
        m.done, m.ended, m.started = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        m.holds = np.zeros(n, bool)
        present = np.zeros(n, bool)
        for t in rows:
            i = index.get(t["item_key"] if step.fan_out else None)
            if i is None:
                continue
            present[i] = True
            if t["state"] == "done":
                m.done[i] = at(t["ended_at"] or now)
            elif t["state"] in DEAD:
                m.ended[i] = at(t["ended_at"] or now)
            elif t["state"] in OPEN and t["actionable_at"] is not None:
                m.started[i] = at(t["actionable_at"])
                m.holds[i] = t["kind"] == "allocate" and t["state"] == "waiting"
        if rows:  # an item of the collection this step has no task for will not have one
            m.ended = np.where(present, m.ended, at(now))
        if step.kind == "muster":
            answers_of[step.id] = _answers(reader, run, step, rows, at)
        if step.streams_from and isinstance(step.for_each, str):
            known, pending, split = answers_of.get(step.streams_from, ({}, 0, {}))
            group = GROUP.search(step.for_each)
            share = split.get(group.group(1), 0.0) if group else 0.0
            collections[str(step.for_each)] = Answers(step.streams_from, np.zeros(n), pending, share)
        elif step.fan_out:
            collections[str(step.for_each)] = None
        steps.append(m)
    leads = {team: len(spec.get("leads") or ()) for team, spec in plan.site.teams.items()}
    checkoff = {}
    for team in leads:
        ends = sorted(
            t["ended_at"]
            for t in tasks
            if t["state"] == "done" and t["ended_at"] and t["kind"] in CHECKED_OFF and t["owner"] == f"team:{team}"
        )
        lanes = max(leads[team], 1)
        gaps = [min((b - a).total_seconds(), GAP_CAP) * lanes for a, b in zip(ends, ends[1:], strict=False)]
        checkoff[team] = posterior(LEAD_CHECKOFF / scale, gaps)
    stock = _stock(reader, plan, stock_site or pools.stock_of(run, plan.site.id))  # a drill: its sandbox
    objectives = []
    for o in plan.objectives:
        om = objective_model(plan, o, o.within / scale, {}, {})
        if om.answers is not None:
            known, pending, split = answers_of.get(o.step, ({}, 0, {}))
            share = sum(v for k, v in split.items() if o.options is None or k in o.options)
            times = [t for opt, ts in known.items() if o.options is None or opt in o.options for t in ts]
            om.answers = Answers(o.step, np.asarray(times, float), pending, min(share, 1.0))
            om.asked = _asked(by_step.get(o.step, []))
        objectives.append(om)
    return Model(at(now), steps, objectives, collections, leads, checkoff, stock)


def _asked(rows: list[dict[str, Any]]) -> int:
    return int(((rows[0]["outputs"] or {}).get("asked") or 0) if rows else 0)


def _answers(reader: Reader, run: Mapping[str, Any], step: Any, rows: list[dict[str, Any]], at: Any) -> tuple:
    """A roll call's answers: option → their times; how many may still answer; each option's
    share (what was answered so far, one answer of each option added: no share is 0 or 1)."""
    current = reader.current_answers(run["id"], step.id)
    known: dict[str, list[float]] = {}
    for option, when in current.values():
        known.setdefault(option, []).append(at(when))
    options = list(step.params.get("options", {}))
    total = len(current) + len(options)
    split = {o: (len(known.get(o, [])) + 1) / total for o in options}
    closed = bool(rows) and rows[0]["state"] != "waiting"
    pending = 0 if closed else max(0, _asked(rows) - len(current))
    return known, pending, split


def _stock(reader: Reader, plan: Plan, site_id: str) -> dict[str, int]:
    """Items available now per pool: the store's (a sandbox not copied yet: the real stock it
    will copy), else the CSV's."""
    stock = reader.pool_stock(site_id) or reader.pool_stock(plan.site.id)
    return {
        p: (stock[p].get("available", 0) if p in stock else len(pool.available()))
        for p, pool in plan.site.pools.items()
    }


def objective_state(o: Mapping[str, Any], forecast: Mapping[str, Any] | None, running: bool, now: datetime) -> str:
    """met (reached by its deadline), missed (reached late, or can no longer be: the run ended,
    the deadline passed, nothing left reaches it), pending (no forecast yet), on_track
    (P ≥ ON_TRACK), else at_risk."""
    deadline = datetime.fromisoformat(o["deadline"])
    if o["met"]:
        return "met" if o["met_at"] is None or datetime.fromisoformat(o["met_at"]) <= deadline else "missed"
    if not running or now > deadline:
        return "missed"
    if forecast is None:
        return "pending"
    if forecast.get("possible") is False:
        return "missed"
    return "on_track" if forecast["probability"] >= ON_TRACK else "at_risk"


def forecasts(
    reader: Reader, run: Mapping[str, Any], plan: Plan, objectives: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The run JSON's objectives with their `forecast` and `state`, from the stored forecast
    (one row; no simulation here). `plan` is the callers' and kept for the signature."""
    running = run["state"] == "running"
    stored = reader.forecast(run["id"]) if running else None
    data = (stored or {}).get("data") or {}
    as_of = int(stored["seq"]) if stored and stored["data"] is not None else None
    computed_at = iso(stored["computed_at"]) if as_of is not None and stored else None
    now = utcnow()
    current: int | None = None
    out = []
    for o in objectives:
        f = data.get(o["id"]) if running and not o["met"] else None
        public = (
            {k: f[k] for k in ("p50", "p90", "probability")} | {"as_of": as_of, "computed_at": computed_at}
            if f
            else None
        )
        if o["met"]:  # known now, not simulated: it reflects the run as read
            current = reader.last_event_seq(run["id"]) if current is None else current
            public = {
                "p50": o["met_at"],
                "p90": o["met_at"],
                "probability": 1.0 if _in_time(o) else 0.0,
                "as_of": current,
                "computed_at": iso(now),
            }
        out.append({**o, "forecast": public, "state": objective_state(o, f, running, now)})
    return out


def _in_time(o: Mapping[str, Any]) -> bool:
    return o["met_at"] is None or o["met_at"] <= o["deadline"]


def trials_for(model: Model, trials: int = TRIALS) -> int:
    """Every trial up to FULL_TRIALS_ITEMS items to simulate; proportionally fewer beyond (a
    simulation's cost is trials × items), at least MIN_TRIALS."""
    items = sum(int(s.done.size) for s in model.steps)
    if items <= FULL_TRIALS_ITEMS:
        return trials
    return max(MIN_TRIALS, min(trials, trials * FULL_TRIALS_ITEMS // items))


def simulate_run(model: Model, start: datetime, trials: int) -> dict[str, dict[str, Any]]:
    """The Model's trials → per objective `{p50, p90, probability, possible}` (`possible`:
    would any trial reach it with unlimited stock, asked only when none reaches it)."""
    reached = simulate(model, trials, seed=0)
    out = {}
    unlimited = None
    for om in model.objectives:
        s = summary(reached[om.id], om.deadline)
        possible = True
        if not np.isfinite(reached[om.id]).any():  # nothing reaches it: would a restock?
            if unlimited is None:
                model.stock = {p: 10**9 for p in model.stock}
                unlimited = simulate(model, 50, seed=1)
            possible = bool(np.isfinite(unlimited[om.id]).any())
        out[om.id] = {
            "p50": _iso(start, s["p50"]),
            "p90": _iso(start, s["p90"]),
            "probability": s["probability"],
            "possible": possible,
        }
    return out


def _iso(start: datetime, seconds: float | None) -> str | None:
    return None if seconds is None else iso(start + timedelta(seconds=seconds))
