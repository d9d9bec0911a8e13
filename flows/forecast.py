"""Forecasts of a run's objectives: the run in the store (tasks done, open, blocked; answers in;
stock left; the pace observed) → the simulation's Model (runbooks/simulate.py) → per objective
`forecast: {p50, p90, probability}` (ISO 8601 UTC) and `state: met|on_track|at_risk|missed`.
Computed on read, cached per change of the run (and for FRESH_S seconds of time passing);
never inside a check-off's transaction."""

from __future__ import annotations

import math
import os
import threading
import time
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
FRESH_S = 30.0  # a forecast is recomputed at least this often while its run runs
MIN_AGE_S = 5.0  # and at most this often per run and process (RUNBOOK_FORECAST_MIN_AGE seconds)
GAP_CAP = 3600.0  # a gap between a team's check-offs longer than this is idle time, not pace
DEAD = frozenset({"failed", "rejected", "skipped", "cancelled"})
OPEN = frozenset({"waiting", "ready", "running"})
_CACHE: dict[tuple[str, str], tuple[int, float, dict[str, Any]]] = {}
_LOCK = threading.Lock()
_FLIGHTS: dict[tuple[str, str], threading.Lock] = {}


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
    the deadline passed, nothing left reaches it), on_track (P ≥ ON_TRACK), else at_risk."""
    deadline = datetime.fromisoformat(o["deadline"])
    if o["met"]:
        return "met" if o["met_at"] is None or datetime.fromisoformat(o["met_at"]) <= deadline else "missed"
    if not running or now > deadline or forecast is None or forecast.get("possible") is False:
        return "missed"
    return "on_track" if forecast["probability"] >= ON_TRACK else "at_risk"


def forecasts(
    reader: Reader,
    run: Mapping[str, Any],
    plan: Plan,
    objectives: list[dict[str, Any]],
    *,
    trials: int = TRIALS,
    stock_site: str | None = None,
) -> list[dict[str, Any]]:
    """The run JSON's objectives with their `forecast` and `state` (cached per change)."""
    extra = _cached(reader, run, plan, trials, stock_site)
    now = utcnow()
    running = run["state"] == "running"
    out = []
    for o in objectives:
        f = extra.get(o["id"]) if running and not o["met"] else None
        public = {k: f[k] for k in ("p50", "p90", "probability")} if f else None
        if o["met"]:
            public = {"p50": o["met_at"], "p90": o["met_at"], "probability": 1.0 if _in_time(o) else 0.0}
        out.append({**o, "forecast": public, "state": objective_state(o, f, running, now)})
    return out


def _cached(
    reader: Reader, run: Mapping[str, Any], plan: Plan, trials: int, stock_site: str | None
) -> dict[str, dict[str, Any]]:
    """The run's last forecast while it is fresh: younger than MIN_AGE_S whatever changed since
    (a busy run is simulated at most every few seconds, however many read it), or younger than
    FRESH_S with no change since. One reader computes; the others of that run wait for it."""
    seq = reader.last_event_seq(run["id"])
    key = (str(reader.conn.engine.url), run["id"])

    def fresh() -> dict[str, dict[str, Any]] | None:
        with _LOCK:
            hit = _CACHE.get(key)
        if hit is None or run["state"] != "running":
            return None
        age = time.monotonic() - hit[1]
        return hit[2] if age < _min_age() or (hit[0] == seq and age < FRESH_S) else None

    with _LOCK:
        flight = _FLIGHTS.setdefault(key, threading.Lock())
    with flight:
        extra = fresh()
        if extra is None:
            extra = _compute(reader, run, plan, trials, stock_site)
            with _LOCK:
                if len(_CACHE) >= 256:
                    _FLIGHTS.pop(next(iter(_CACHE)), None)
                    _CACHE.pop(next(iter(_CACHE)))
                _CACHE[key] = (seq, time.monotonic(), extra)
    return extra


def _min_age() -> float:
    try:
        return max(0.0, float(os.environ.get("RUNBOOK_FORECAST_MIN_AGE", MIN_AGE_S)))
    except ValueError:
        return MIN_AGE_S


def _in_time(o: Mapping[str, Any]) -> bool:
    return o["met_at"] is None or o["met_at"] <= o["deadline"]


def _compute(
    reader: Reader, run: Mapping[str, Any], plan: Plan, trials: int, stock_site: str | None
) -> dict[str, dict[str, Any]]:
    if run["state"] != "running":
        return {}
    now = utcnow()
    model = run_model(reader, run, plan, now, stock_site)
    reached = simulate(model, trials, seed=0)
    start = run["started_at"]
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
