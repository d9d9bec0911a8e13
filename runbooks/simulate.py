"""Simulation stage: a model of what is left of a run (or of a whole plan) → per objective, the
times at which each of N Monte-Carlo trials reaches its target → `{p50, p90, probability}`.

Vectorised over trials with numpy: every array is (trials,) or (trials, items); the Python
loops run over steps (and, for a team's leads, over that step's items), never over trials.
The distributions (docs/language.md, "Simulation"):
- a task's duration, actionable → done, is lognormal with its step's `estimate` as the median
  and `SIGMA` as the spread of its logarithm, both updated by the durations observed for that
  step in this run (a normal prior on the log worth `PRIOR_WEIGHT` observations); a `wait`
  step with `for:` (and a step with a zero estimate) takes exactly that long;
- a task already open for e seconds takes what is left of its draw (D − e), or half a fresh
  draw when it is already later than its draw;
- a team's tasks (`owner: team:X`, human kinds) are checked off by its leads, one at a time
  each: a check-off takes a lead `LEAD_CHECKOFF` (lognormal, updated by the team's observed pace);
- an allocation is served while its pool has stock, in the order items become ready; the rest
  stay blocked (never done in that trial);
- roll-call answers not yet in: each person asked answers with probability `ANSWER_RATE`,
  their option drawn with the group's share, at a uniform time until the roll call closes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

SIGMA = 0.5  # spread of a duration's logarithm: P90 ≈ 1.9 × the estimate
PRIOR_WEIGHT = 3.0  # the estimate counts as this many observed durations
LEAD_CHECKOFF = 600.0  # seconds of a lead's time per check-off before any is observed
ANSWER_RATE = 0.95  # share of the people not yet answered who will answer
TRIALS = 1000
INF = math.inf


@dataclass
class Answers:
    """Answers arriving: those in (`known`, seconds from the origin) and up to `pending` more,
    each with probability `share`, at a uniform time in the roll call's remaining window."""

    muster: str
    known: np.ndarray
    pending: int = 0
    share: float = 0.0


@dataclass
class StepModel:
    """One step of the run: its items' state now (seconds from the origin; NaN where not)."""

    id: str
    kind: str
    median: float  # seconds; 0 → instant
    sigma: float = SIGMA
    fixed: bool = False
    collection: str | None = None  # items aligned with those of the steps of the same collection
    item_needs: tuple[str, ...] = ()
    all_needs: tuple[str, ...] = ()
    streams_from: str | None = None
    team: str | None = None  # leads-limited check-offs
    pool: str | None = None
    done: np.ndarray = field(default_factory=lambda: np.full(1, np.nan))  # finish time of done items
    ended: np.ndarray = field(default_factory=lambda: np.full(1, np.nan))  # ended without success
    started: np.ndarray = field(default_factory=lambda: np.full(1, np.nan))  # actionable, not done
    holds: np.ndarray = field(default_factory=lambda: np.zeros(1, bool))  # holds its pool item already


@dataclass
class ObjectiveModel:
    id: str
    deadline: float  # seconds from the origin
    measure: str  # count, ratio, coverage
    step: str | None = None
    target: float = 0.0
    answers: Answers | None = None  # a ratio over a roll call: the answers that count
    asked: int = 0
    supply: tuple[str, ...] = ()  # coverage: staffed once these steps are done
    met_at: float | None = None  # already met (seconds from the origin)


@dataclass
class Model:
    now: float  # seconds from the origin (0 before a run)
    steps: list[StepModel]  # in dependency order
    objectives: list[ObjectiveModel]
    collections: dict[str, Answers | None] = field(default_factory=dict)  # None: a fixed list
    leads: dict[str, int] = field(default_factory=dict)
    checkoff: dict[str, tuple[float, float]] = field(default_factory=dict)  # team → (median, sigma)
    stock: dict[str, int] = field(default_factory=dict)  # pool → items available now


def posterior(median: float, observed: Sequence[float], sigma: float = SIGMA) -> tuple[float, float]:
    """The estimate (a median) updated with observed durations, in log space: a weighted mean
    of the logs, and the spread pulled towards the observed one."""
    obs = np.log(np.maximum(np.asarray([o for o in observed if o >= 0], float), 1.0))
    if obs.size == 0 or median <= 0:
        return (float(np.exp(obs.mean())) if obs.size and median <= 0 else median), sigma
    prior = math.log(max(median, 1.0))
    mu = (PRIOR_WEIGHT * prior + obs.sum()) / (PRIOR_WEIGHT + obs.size)
    var = (PRIOR_WEIGHT * sigma**2 + ((obs - mu) ** 2).sum()) / (PRIOR_WEIGHT + obs.size)
    return float(math.exp(mu)), float(math.sqrt(var))


def _draw(rng: np.random.Generator, median: float, sigma: float, fixed: bool, shape: tuple[int, ...]) -> np.ndarray:
    if fixed or median <= 0 or sigma <= 0:
        return np.full(shape, max(median, 0.0))
    return median * np.exp(sigma * rng.standard_normal(shape))


def _arrivals(rng: np.random.Generator, a: Answers, trials: int, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """(trials, known + pending): answer times, +inf where that person does not answer (here)."""
    known = np.broadcast_to(a.known, (trials, a.known.size))
    if a.pending <= 0:
        return np.array(known, float)
    comes = rng.random((trials, a.pending)) < a.share * ANSWER_RATE
    span = np.maximum(end - start, 0.0)[:, None]
    at = start[:, None] + span * rng.random((trials, a.pending))
    return np.concatenate([known, np.where(comes, at, INF)], axis=1)


def simulate(model: Model, trials: int = TRIALS, seed: int | None = 0) -> dict[str, np.ndarray]:
    """Objective id → (trials,) seconds from the origin at which it is reached (+inf: never)."""
    rng = np.random.default_rng(seed)
    now = model.now
    succ: dict[str, np.ndarray] = {}  # step → (trials, items) success times (+inf: never)
    end_all: dict[str, np.ndarray] = {}  # step → (trials,) when every item has ended
    arrivals: dict[str, np.ndarray] = {}  # collection → (trials, items)
    free = {team: np.full((trials, max(n, 1)), now) for team, n in model.leads.items()}
    stock = dict(model.stock)
    served: dict[str, np.ndarray] = {}  # pool → (trials,) items given from the stock so far
    for step in model.steps:
        ready = np.full(trials, 0.0)
        for need in step.all_needs:
            ready = np.maximum(ready, end_all.get(need, ready))
        if step.collection is not None:
            if step.collection not in arrivals:
                answers = model.collections.get(step.collection)
                if answers is None:
                    arrivals[step.collection] = np.zeros((trials, step.done.size))
                else:
                    m = end_all.get(answers.muster, np.full(trials, now))
                    arrivals[step.collection] = _arrivals(rng, answers, trials, np.maximum(ready, now), m)
            arrive = arrivals[step.collection]
        else:
            arrive = np.zeros((trials, 1))
        n = arrive.shape[1]
        own = np.maximum(arrive, ready[:, None])
        for need in step.item_needs:
            if need in succ and succ[need].shape[1] == n:
                own = np.maximum(own, succ[need])
        draw = _draw(rng, step.median, step.sigma, step.fixed, (trials, n))
        known = step.done.size
        done = _pad(step.done, n)
        ended = _pad(step.ended, n)
        started = _pad(step.started, n)
        left = started + draw - now
        late = _draw(rng, step.median, step.sigma, step.fixed, (trials, n)) / 2
        open_finish = now + np.where(left > 0, left, late)
        finish = np.where(np.isnan(started), own + draw, open_finish)
        finish = np.where(np.isnan(started) & (finish < now) & np.isfinite(own), now + draw, finish)
        if step.pool is not None:
            finish = _serve_stock(step, finish, stock, served, trials, n)
        if step.team is not None and step.team in free:
            finish = _checkoffs(rng, model, step.team, free[step.team], finish, done, ended)
        finish = np.where(np.isnan(done), finish, done)
        finish = np.where(np.isnan(ended), finish, INF)
        exists = np.isfinite(arrive)
        succ[step.id] = np.where(exists, finish, INF)
        ends = np.where(np.isnan(ended), finish, ended)
        ends = np.where(exists, ends, -INF)
        last = ends.max(axis=1) if n else ready
        if step.streams_from is not None and step.streams_from in end_all:
            last = np.maximum(last, end_all[step.streams_from])
        end_all[step.id] = np.maximum(last, ready) if known or n else ready
        if step.kind == "muster":
            end_all[step.id] = np.where(np.isnan(step.done[0]), finish[:, 0], step.done[0])
    return {o.id: _reached(rng, o, succ, end_all, model, trials) for o in model.objectives}


def _pad(values: np.ndarray, n: int) -> np.ndarray:
    if values.size >= n:
        return values[:n][None, :]
    return np.concatenate([values, np.full(n - values.size, np.nan)])[None, :]


def _serve_stock(
    step: StepModel, finish: np.ndarray, stock: dict[str, int], served: dict[str, np.ndarray], trials: int, n: int
) -> np.ndarray:
    """Items that do not hold an item yet are served while the pool has stock, first ready first."""
    assert step.pool is not None
    holds = _pad(step.holds.astype(float), n)[0] > 0
    done = ~np.isnan(_pad(step.done, n)[0])
    needs = ~(holds | done) & np.isfinite(finish)
    key = np.where(needs, finish, INF)
    rank = np.argsort(np.argsort(key, axis=1), axis=1)
    given = served.get(step.pool, np.zeros(trials))
    left = stock.get(step.pool, 0) - given
    blocked = needs & (rank >= left[:, None])
    served[step.pool] = given + np.minimum(needs.sum(axis=1), np.maximum(left, 0))
    return np.where(blocked, INF, finish)


def _checkoffs(
    rng: np.random.Generator,
    model: Model,
    team: str,
    free: np.ndarray,
    finish: np.ndarray,
    done: np.ndarray,
    ended: np.ndarray,
) -> np.ndarray:
    """The team's leads check the open items off one at a time each, first finished first."""
    trials, n = finish.shape
    todo = np.isnan(done) & np.isnan(ended) & np.isfinite(finish)
    if not todo.any():
        return finish
    median, sigma = model.checkoff.get(team, (LEAD_CHECKOFF, SIGMA))
    service = _draw(rng, median, sigma, False, (trials, n))
    key = np.where(todo, finish, INF)
    order = np.argsort(key, axis=1)
    rows = np.arange(trials)
    out = finish.copy()
    for j in range(int(todo.sum(axis=1).max())):
        idx = order[:, j]
        w = key[rows, idx]
        lane = np.argmin(free, axis=1)
        start = np.maximum(w, free[rows, lane])
        fin = start + service[:, j]
        ok = np.isfinite(w)
        out[rows, idx] = np.where(ok, fin, out[rows, idx])
        free[rows, lane] = np.where(ok, fin, free[rows, lane])
    return out


def _kth(times: np.ndarray, k: np.ndarray) -> np.ndarray:
    """(trials,) the k-th smallest time per trial (+inf when fewer than k are finite)."""
    trials, n = times.shape
    if n == 0:
        return np.where(k <= 0, 0.0, INF)
    ordered = np.sort(times, axis=1)
    pick = np.clip(k - 1, 0, n - 1).astype(int)
    out = np.take_along_axis(ordered, pick[:, None], axis=1)[:, 0]
    return np.where(k <= 0, 0.0, np.where(k > n, INF, out))


def _reached(
    rng: np.random.Generator,
    o: ObjectiveModel,
    succ: Mapping[str, np.ndarray],
    end_all: Mapping[str, np.ndarray],
    model: Model,
    trials: int,
) -> np.ndarray:
    if o.met_at is not None:
        return np.full(trials, o.met_at)
    if o.measure == "coverage":
        ends = [end_all[s] for s in o.supply if s in end_all]
        return np.maximum.reduce(ends) if ends else np.full(trials, INF)
    if o.answers is not None:
        a = o.answers
        close = end_all.get(a.muster, np.full(trials, model.now))
        times = _arrivals(rng, a, trials, np.full(trials, model.now), np.maximum(close, model.now))
        need = math.ceil(o.target * o.asked - 1e-9)
        return _kth(times, np.full(trials, need))
    found = succ.get(o.step or "")
    if found is None:
        return np.full(trials, INF)
    times = found
    if o.measure == "count":
        return _kth(times, np.full(trials, math.ceil(o.target - 1e-9)))
    counted = np.isfinite(times).sum(axis=1)  # a ratio of done tasks: of those that can be done
    return _kth(times, np.ceil(o.target * np.maximum(counted, 1) - 1e-9))


def summary(times: np.ndarray, deadline: float) -> dict[str, float | None]:
    """`p50`/`p90`: seconds from the origin by which half / nine tenths of the trials reached
    it (None when fewer did); `probability`: the share reaching it by the deadline."""
    ordered = np.sort(times)
    n = ordered.size

    def q(share: float) -> float | None:
        v = ordered[max(math.ceil(share * n) - 1, 0)]
        return float(v) if math.isfinite(v) else None

    return {"p50": q(0.5), "p90": q(0.9), "probability": round(float(np.mean(times <= deadline)), 4)}
