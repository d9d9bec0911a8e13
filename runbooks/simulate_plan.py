"""Simulation before a run: Plan + what-ifs (`team.X=N` leads, `pool.X=N` items in stock,
`answers.G=share`) → the simulation's Model (runbooks/simulate.py), times counted from the start;
and the shape shared by `runbook plan --simulate` and the run JSON's `forecast`."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from .expressions import ExpressionError, render_value
from .models import parse_duration
from .plan import Plan, PlannedStep
from .simulate import TRIALS, Answers, Model, ObjectiveModel, StepModel, simulate, summary

CHECKED_OFF = frozenset({"manual", "approval", "allocate"})  # kinds a team's lead checks off
GROUP = re.compile(r"answers\.([a-z][a-z0-9_]*)")


class AssumptionError(ValueError):
    """A what-if that names nothing in the plan, or a value out of range."""


def parse_assumptions(pairs: Mapping[str, str], plan: Plan) -> dict[str, dict[str, float]]:
    """`{"team.it": "5"}` → `{"team": {"it": 5}}`, every problem named at once."""
    out: dict[str, dict[str, float]] = {"team": {}, "pool": {}, "answers": {}}
    problems = []
    options = {o for s in plan.steps if s.kind == "muster" for o in s.params.get("options", {})}
    known = {"team": set(plan.site.teams), "pool": set(plan.site.pools), "answers": options}
    for name, raw in pairs.items():
        kind, _, what = name.partition(".")
        if kind not in out or not what:
            problems.append(f"--assume {name}={raw}: expected team.<team>=N, pool.<pool>=N or answers.<option>=share")
            continue
        if what not in known[kind]:
            problems.append(f"--assume {name}: no {kind} {what!r} (known: {', '.join(sorted(known[kind])) or 'none'})")
            continue
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if kind == "answers" and not 0 <= value <= 1:
            problems.append(f"--assume {name}={raw}: a share from 0 to 1")
        elif kind != "answers" and not (value >= 0 and value == int(value)):
            problems.append(f"--assume {name}={raw}: a whole number, 0 or more")
        else:
            out[kind][what] = value
    if problems:
        raise AssumptionError("; ".join(problems))
    return out


def step_model(step: PlannedStep, scale: float = 1.0) -> StepModel:
    """A step's distribution from the plan (durations divided by the run's time scale)."""
    fixed = step.kind == "wait" and step.params.get("for") is not None
    median = parse_duration(str(step.params["for"])) if fixed else float(step.estimate or 0)
    return StepModel(
        id=step.id,
        kind=step.kind,
        median=median / scale,
        fixed=fixed,
        collection=str(step.for_each) if step.fan_out else None,
        item_needs=tuple(step.item_needs),
        all_needs=tuple(n for n in step.needs if n not in step.item_needs),
        streams_from=step.streams_from,
        team=str(step.owner)[5:] if step.kind in CHECKED_OFF and str(step.owner or "").startswith("team:") else None,
        pool=str(step.params["pool"]) if step.kind == "allocate" else None,
    )


def shares(step: PlannedStep, assumed: Mapping[str, float]) -> dict[str, float]:
    """A roll call's options → share of answers: the assumed ones, the rest split evenly."""
    options = list(step.params.get("options", {}))
    rest = [o for o in options if o not in assumed]
    left = max(0.0, 1.0 - sum(assumed.get(o, 0.0) for o in options))
    return {o: assumed[o] if o in assumed else (left / len(rest) if rest else 0.0) for o in options}


def plan_model(plan: Plan, assume: Mapping[str, Mapping[str, float]] | None = None) -> Model:
    assume = assume or {}
    context = plan.context({"id": "plan", "drill": False, "started_at": None})
    audience: dict[str, int] = {}
    split: dict[str, dict[str, float]] = {}
    steps: list[StepModel] = []
    collections: dict[str, Answers | None] = {}
    for step in plan.steps:
        m = step_model(step)
        n = 1
        if step.kind == "muster":
            audience[step.id] = _count(step.params.get("audience"), context) or 0
            split[step.id] = shares(step, assume.get("answers", {}))
        if step.streams_from and isinstance(step.for_each, str):
            group = GROUP.search(step.for_each)
            share = split.get(step.streams_from, {}).get(group.group(1), 1.0) if group else 1.0
            collections[m.collection or ""] = Answers(
                step.streams_from, np.zeros(0), audience.get(step.streams_from, 0), share
            )
            n = 0
        elif step.fan_out:
            n = _count(step.for_each, context) or 1
            collections.setdefault(m.collection or "", None)
        m.done, m.ended, m.started = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        m.holds = np.zeros(n, bool)
        steps.append(m)
    leads = {t: len(team.get("leads") or ()) for t, team in plan.site.teams.items()}
    leads.update({t: int(v) for t, v in assume.get("team", {}).items()})
    stock = {p: len(pool.available()) for p, pool in plan.site.pools.items()}
    stock.update({p: int(v) for p, v in assume.get("pool", {}).items()})
    objectives = [objective_model(plan, o, float(o.within), audience, split) for o in plan.objectives]
    return Model(0.0, steps, objectives, collections, leads, {}, stock)


def objective_model(
    plan: Plan, o: Any, deadline: float, audience: Mapping[str, int], split: Mapping[str, Mapping[str, float]]
) -> ObjectiveModel:
    if o.queue is not None:
        queue = plan.site.service.get(o.queue)
        supply = tuple(e.step for e in queue.supply) if queue else ()
        return ObjectiveModel(o.id, deadline, "coverage", supply=supply, target=o.target)
    step = plan.find(o.step)
    if step is not None and step.kind == "muster" and o.measure == "ratio":
        chosen = split.get(step.id, {})
        share = sum(v for k, v in chosen.items() if o.options is None or k in o.options) if chosen else 1.0
        asked = audience.get(step.id, 0)
        answers = Answers(step.id, np.zeros(0), asked, min(share, 1.0))
        return ObjectiveModel(o.id, deadline, "ratio", o.step, o.target, answers, asked)
    return ObjectiveModel(o.id, deadline, o.measure, o.step, o.target)


def _count(value: Any, context: dict[str, Any]) -> int | None:
    try:
        result = render_value(list(value) if isinstance(value, tuple) else value, context)
    except ExpressionError:
        return None
    return len(result) if isinstance(result, (list, tuple)) else None


def forecast_of(times: np.ndarray, deadline: float) -> dict[str, Any]:
    """The forecast in seconds from the origin (p50/p90 None when fewer trials reached it)."""
    return summary(times, deadline)


def simulate_plan(
    plan: Plan, assume: Mapping[str, Mapping[str, float]] | None = None, trials: int = TRIALS, seed: int | None = 0
) -> dict[str, Any]:
    """`runbook plan --simulate`: per objective its forecast, times in seconds from the start."""
    model = plan_model(plan, assume)
    reached = simulate(model, trials, seed)
    out = []
    for o, om in zip(plan.objectives, model.objectives, strict=True):
        out.append(
            {
                "id": o.id,
                "name": o.name,
                "target": o.target,
                "within": o.within,
                "forecast": forecast_of(reached[o.id], om.deadline),
            }
        )
    assumed = {f"{k}.{n}": v for k, d in (assume or {}).items() for n, v in d.items()}
    answers = {s: dict(v) for s, v in _splits(plan, assume).items()}
    return {
        "runbook": plan.runbook_id,
        "site": plan.site.id,
        "trials": trials,
        "assume": assumed,
        "leads": model.leads,
        "stock": model.stock,
        "answers": answers,
        "objectives": out,
    }


def _splits(plan: Plan, assume: Mapping[str, Mapping[str, float]] | None) -> dict[str, dict[str, float]]:
    return {s.id: shares(s, (assume or {}).get("answers", {})) for s in plan.steps if s.kind == "muster"}
