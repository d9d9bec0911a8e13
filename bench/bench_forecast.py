"""Benchmark the forecast (runbooks/simulate.py): 1,000 Monte-Carlo trials of

1. the `xian` lockdown mid-way — a drill of callcenter_lockdown in a fresh SQLite store, 99 of
   110 staff answered (48 from home), 20 laptops handed over, 22 waiting, 6 short — read through
   flows/forecast.py (the model from the store, then the simulation), and
2. a 10,000-task run — 2,500 agents × 4 per-item steps (a leads-limited allocation from a pool
   of 2,400, an unlimited setup, leads-limited training, an approval), a quarter of them done —
   as a Model,

each against a plain Python loop of the same simulation (per trial, per step, per item, the
`random` module) in the same run. The plain loop of the 10,000-task run is timed on
--plain-trials trials and scaled to 1,000 (it is linear in trials: one trial after another).
Both must agree: every objective's P50 within 5% of the time left (or both never). Then the
10,000-task run with the trials the forecaster gives a run that size (`forecast.trials_for`)
against 1,000 trials. One JSON line per goal.

    python bench/bench_forecast.py [--repeat 3] [--plain-trials 100]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from runbooks.simulate import (  # noqa: E402
    ANSWER_RATE,
    LEAD_CHECKOFF,
    SIGMA,
    Model,
    ObjectiveModel,
    StepModel,
    summary,  # noqa: E402
)
from runbooks.simulate import simulate as vectorised  # noqa: E402

INF = math.inf
H = 3600.0


def plain(model: Model, trials: int, seed: int = 0) -> dict[str, list[float]]:
    """The same simulation written as one would first write it: a loop over trials."""
    rng = random.Random(seed)
    now = model.now
    out: dict[str, list[float]] = {o.id: [] for o in model.objectives}

    def draw(step: StepModel) -> float:
        if step.fixed or step.median <= 0 or step.sigma <= 0:
            return max(step.median, 0.0)
        return step.median * math.exp(step.sigma * rng.gauss(0.0, 1.0))

    for _ in range(trials):
        succ: dict[str, list[float]] = {}
        end_all: dict[str, float] = {}
        arrivals: dict[str, list[float]] = {}
        free = {team: [now] * max(n, 1) for team, n in model.leads.items()}
        served: dict[str, int] = {}
        for step in model.steps:
            ready = max([end_all.get(n, 0.0) for n in step.all_needs], default=0.0)
            if step.collection is not None:
                if step.collection not in arrivals:
                    a = model.collections.get(step.collection)
                    if a is None:
                        arrivals[step.collection] = [0.0] * step.done.size
                    else:
                        start = max(ready, now)
                        span = max(end_all.get(a.muster, now) - start, 0.0)
                        extra = [
                            start + span * rng.random() if rng.random() < a.share * ANSWER_RATE else INF
                            for _ in range(a.pending)
                        ]
                        arrivals[step.collection] = [float(x) for x in a.known] + extra
                arrive = arrivals[step.collection]
            else:
                arrive = [0.0]
            n = len(arrive)
            finish = []
            for i in range(n):
                own = max(arrive[i], ready)
                for need in step.item_needs:
                    if len(succ.get(need, ())) == n:
                        own = max(own, succ[need][i])
                d = draw(step)
                started = step.started[i] if i < step.started.size else math.nan
                if math.isnan(started):
                    f = own + d
                    if f < now and own < INF:
                        f = now + d
                else:
                    late = draw(step) / 2
                    f = now + (started + d - now if started + d > now else late)
                finish.append(f)
            done = [step.done[i] if i < step.done.size else math.nan for i in range(n)]
            ended = [step.ended[i] if i < step.ended.size else math.nan for i in range(n)]
            if step.pool is not None:
                holds = [bool(step.holds[i]) if i < step.holds.size else False for i in range(n)]
                needers = sorted(
                    (finish[i], i) for i in range(n) if not holds[i] and math.isnan(done[i]) and finish[i] < INF
                )
                left = model.stock.get(step.pool, 0) - served.get(step.pool, 0)
                for rank, (_, i) in enumerate(needers):
                    if rank >= left:
                        finish[i] = INF
                served[step.pool] = served.get(step.pool, 0) + min(len(needers), max(left, 0))
            if step.team is not None and step.team in free:
                median, sigma = model.checkoff.get(step.team, (LEAD_CHECKOFF, SIGMA))
                lanes = free[step.team]
                for f, i in sorted(
                    (finish[i], i) for i in range(n) if math.isnan(done[i]) and math.isnan(ended[i]) and finish[i] < INF
                ):
                    lane = min(range(len(lanes)), key=lanes.__getitem__)
                    finish[i] = max(f, lanes[lane]) + median * math.exp(sigma * rng.gauss(0.0, 1.0))
                    lanes[lane] = finish[i]
            s, ends = [], []
            for i in range(n):
                f = done[i] if not math.isnan(done[i]) else (INF if not math.isnan(ended[i]) else finish[i])
                exists = arrive[i] < INF
                s.append(f if exists else INF)
                ends.append((ended[i] if not math.isnan(ended[i]) else f) if exists else -INF)
            succ[step.id] = s
            last = max(ends) if n else ready
            if step.streams_from is not None and step.streams_from in end_all:
                last = max(last, end_all[step.streams_from])
            end_all[step.id] = max(last, ready)
            if step.kind == "muster":
                end_all[step.id] = finish[0] if math.isnan(step.done[0]) else float(step.done[0])
        for o in model.objectives:
            out[o.id].append(_reached(rng, o, succ, end_all, now))
    return out


def _reached(rng: random.Random, o: ObjectiveModel, succ: dict, end_all: dict, now: float) -> float:
    if o.met_at is not None:
        return o.met_at
    if o.measure == "coverage":
        ends = [end_all[s] for s in o.supply if s in end_all]
        return max(ends) if ends else INF
    if o.answers is not None:
        a = o.answers
        close = max(end_all.get(a.muster, now), now)
        times = sorted(
            [float(x) for x in a.known]
            + [
                now + (close - now) * rng.random() if rng.random() < a.share * ANSWER_RATE else INF
                for _ in range(a.pending)
            ]
        )
        k = math.ceil(o.target * o.asked - 1e-9)
        return 0.0 if k <= 0 else (times[k - 1] if k <= len(times) else INF)
    times = sorted(succ.get(o.step or "", []))
    if o.measure == "count":
        k = math.ceil(o.target - 1e-9)
    else:
        k = math.ceil(o.target * max(sum(t < INF for t in times), 1) - 1e-9)
    return 0.0 if k <= 0 else (times[k - 1] if k <= len(times) else INF)


def xian_midway() -> tuple[Model, object]:
    """A drill of callcenter_lockdown at xian in a fresh store, played to mid-way."""
    os.environ["RUNBOOK_HOME"] = tempfile.mkdtemp(prefix="bench-forecast-")
    from flows import forecast
    from flows.actors import local_operator
    from flows.lifecycle import Engine
    from flows.runstate import plan_of
    from flows.store import Store, utcnow

    store = Store()
    engine = Engine(store)
    op = local_operator()
    run = engine.lockdown("xian", op, drill=True)[0][0]["id"]
    for i in range(1, 111):
        if 90 <= i <= 100:
            continue  # 11 silent
        engine.answer(run, "roll_call", f"X{i:04d}", "home" if 3 <= i <= 50 else "onsite", op)
    for task in [t for t in engine.tasks(run, step="laptop") if t["state"] == "waiting"][:20]:
        engine.complete(run, task["id"], op, fields={"asset": task["outputs"]["asset_tag"]})
    with store.read() as r:
        row = r.run_head(run)
        model = forecast.run_model(r, row, plan_of(row, r), utcnow())

    def read() -> object:
        with store.read() as r:
            return forecast.run_model(r, row, plan_of(row, r), utcnow())

    return model, read


def big_run(agents: int = 2500) -> Model:
    rng = np.random.default_rng(7)

    def arrays(done_share: float, median: float) -> tuple[np.ndarray, np.ndarray]:
        done = np.full(agents, np.nan)
        k = int(agents * done_share)
        done[:k] = np.sort(rng.uniform(0, 20 * H, k))
        started = np.full(agents, np.nan)
        started[k : k + agents // 20] = 20 * H - rng.uniform(0, median, agents // 20)
        return done, started

    steps = []
    for sid, kind, median, team, pool, share in (
        ("laptop", "allocate", 4 * H, "it", "laptops", 0.4),
        ("setup", "http", 0.5 * H, None, None, 0.3),
        ("training", "manual", 8 * H, "training", None, 0.25),
        ("go_live", "approval", 1 * H, None, None, 0.25),
    ):
        done, started = arrays(share, median)
        steps.append(
            StepModel(
                sid,
                kind,
                median,
                collection="agents",
                item_needs=(steps[-1].id,) if steps else (),
                team=team,
                pool=pool,
                done=done,
                ended=np.full(agents, np.nan),
                started=started,
                holds=~np.isnan(started) if pool else np.zeros(agents, bool),
            )
        )
    objectives = [
        ObjectiveModel("live_2000", 72 * H, "count", "go_live", 2000),
        ObjectiveModel("live_2400", 96 * H, "count", "go_live", 2400),
    ]
    return Model(
        20 * H, steps, objectives, {"agents": None}, {"it": 40, "training": 30}, {}, {"laptops": 2400 - agents * 2 // 5}
    )


def best(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def agree(model: Model, ours: dict, theirs: dict) -> None:
    for o in model.objectives:
        a = summary(np.asarray(ours[o.id]), o.deadline)["p50"]
        b = summary(np.asarray(theirs[o.id]), o.deadline)["p50"]
        if a is None or b is None:
            assert a is None and b is None, (o.id, a, b)
            continue
        left = max(max(a, b) - model.now, 1.0)
        assert abs(a - b) <= 0.05 * left, (o.id, a, b)


def line(bench: str, metric: str, ours: float, baseline: float, goal: float, **extra) -> None:
    ratio = ours / baseline
    print(
        json.dumps(
            {
                "bench": bench,
                "metric": metric,
                "ours": round(ours * 1000, 1),
                "baseline": round(baseline * 1000, 1),
                "unit": "ms",
                "ratio": round(ratio, 4),
                "goal": goal,
                "met": ratio <= goal,
                **extra,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--plain-trials", type=int, default=100)
    args = parser.parse_args()
    trials = 1000

    model, read = xian_midway()
    ours, mine = best(lambda: vectorised(model, trials), args.repeat)
    whole, _ = best(lambda: vectorised(read(), trials), args.repeat)
    theirs, loop = best(lambda: plain(model, trials), 1)
    agree(model, mine, loop)
    line("forecast", "xian mid-way, 1,000 trials", ours, theirs, 0.1, with_store_read_ms=round(whole * 1000, 1))

    big = big_run()
    tasks = sum(s.done.size for s in big.steps)
    ours, mine = best(lambda: vectorised(big, trials), args.repeat)
    part, loop = best(lambda: plain(big, args.plain_trials), 1)
    agree(big, vectorised(big, args.plain_trials), loop)
    line(
        "forecast",
        f"{tasks:,}-task run, 1,000 trials",
        ours,
        part * trials / args.plain_trials,
        0.1,
        baseline_measured=f"{args.plain_trials} trials in {part:.2f} s, scaled to 1,000",
    )
    from flows.forecast import trials_for  # what the forecaster runs for a run that size

    fewer = trials_for(big)
    scaled, few = best(lambda: vectorised(big, fewer), args.repeat)
    agree(big, few, mine)  # fewer trials, the same P50 within 5% of the time left
    line("forecast", f"{tasks:,}-task run, {fewer} trials (trials_for) vs 1,000", scaled, ours, 0.3)


if __name__ == "__main__":
    main()
