"""Shift solver: eligible people + shift slots (a step's patterns laid over its days) + the
required headcount per interval + the rules → who works which slot, the shortfall per interval
left, and how good the plan is (CP-SAT's gap). Pure computation: no store, no clock but the
solver's own time limit.

Objective, in this order (lexicographic through weights): the total shortfall (agent-intervals
not staffed), then keeping the shifts people already acknowledged, then unfairness (the spread
of nights and of weekend shifts between people), then the number of shifts (no one works more
than the plan needs). No slot holds more people than its busiest interval requires (or the
acknowledged shifts it keeps), so fairness never adds a shift nobody needs."""

from __future__ import annotations

import datetime as dt
import time
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ortools.sat.python import cp_model

NIGHT_END_HOUR = 6  # a night shift covers some of 00:00–06:00 local


@dataclass(frozen=True)
class Slot:
    """One shift pattern on one day: [start, end) in UTC, night and weekend in local time."""

    index: int
    day: int
    pattern: int
    start: dt.datetime
    end: dt.datetime
    night: bool
    weekend: bool


@dataclass(frozen=True)
class Need:
    start: dt.datetime
    end: dt.datetime
    required: int


@dataclass(frozen=True)
class Rules:
    rest: int  # seconds between the end of a shift and the start of the next one of a person
    max_per_week: int
    max_consecutive_nights: int


@dataclass
class Solution:
    assignments: list[tuple[str, int]]  # (person, slot index)
    shortfall: list[int]  # per need
    status: str  # optimal, feasible, infeasible, greedy (none found in time: the greedy plan)
    objective: float
    bound: float
    gap: float  # relative gap of the final plan (0: proven optimal)
    first_seconds: float | None  # wall time to the first plan (the greedy one when CP-SAT found none)
    seconds: float
    kept: int = 0  # acknowledged shifts kept
    plans_found: int = 0
    spread: dict[str, int] = field(default_factory=dict)
    groups: int = 1  # models the people were split into (flows/shift_groups.py)


def night_covering(local_start: dt.datetime, local_end: dt.datetime) -> bool:
    """Does [start, end) cover any moment of 00:00–06:00 local on some day?"""
    day = local_start.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < local_end:
        if local_start < day + dt.timedelta(hours=NIGHT_END_HOUR) and day < local_end:
            return True
        day += dt.timedelta(days=1)
    return False


def build_slots(
    timezone: str, first_day: dt.date, days: int, patterns: Sequence[tuple[int, int]], not_before: dt.datetime
) -> list[Slot]:
    """The slots of `days` days from `first_day` (local), one per pattern (start minute of the
    day, length in seconds) and day, leaving out those that start before `not_before`."""
    tz = zoneinfo.ZoneInfo(timezone)
    slots: list[Slot] = []
    for d in range(days):
        date = first_day + dt.timedelta(days=d)
        for p, (minute, length) in enumerate(patterns):
            local = dt.datetime(date.year, date.month, date.day, tzinfo=tz) + dt.timedelta(minutes=minute)
            start = local.astimezone(dt.UTC)
            end = start + dt.timedelta(seconds=length)
            if start < not_before:
                continue
            local_end = end.astimezone(tz)
            weekend = local.isoweekday() >= 6
            slots.append(Slot(len(slots), d, p, start, end, night_covering(local, local_end), weekend))
    return slots


def conflicts(slots: Sequence[Slot], rest: int) -> list[tuple[int, int]]:
    """Pairs of slots one person cannot both work: they overlap or leave less than `rest`."""
    gap = dt.timedelta(seconds=rest)
    out = []
    ordered = sorted(slots, key=lambda s: s.start)
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if b.start >= a.end + gap:
                break
            out.append((a.index, b.index))
    return out


def greedy(
    people: Sequence[str],
    slots: Sequence[Slot],
    needs: Sequence[Need],
    rules: Rules,
    forbid: Mapping[str, Sequence[int]] | None = None,
    keep: Mapping[str, Sequence[int]] | None = None,
    prefer: Mapping[str, Sequence[int]] | None = None,
) -> list[tuple[str, int]]:
    """A plan that keeps every rule, made slot by slot in time order (each slot staffed up to the
    most its intervals still need, by those who acknowledged it first, then those who had it in
    the plan being redone (`prefer`: few people told of a change), then those with the fewest
    shifts so far; none takes a shift that clashes with one they acknowledged later): the
    solver's first hint, and the plan kept if the solver finds none (or a worse one) in time."""
    banned = {(p, i) for p, idx in (forbid or {}).items() for i in idx}
    kept = {p: set(idx) for p, idx in (keep or {}).items()}
    had = {(p, i) for p, idx in (prefer or {}).items() for i in idx}
    pairs = conflicts(slots, rules.rest)
    clash: dict[int, set[int]] = {}
    for a, b in pairs:
        clash.setdefault(a, set()).add(b)
        clash.setdefault(b, set()).add(a)
    covered = [[j for j, n in enumerate(needs) if s.start <= n.start and n.end <= s.end] for s in slots]
    left = [n.required for n in needs]
    taken: dict[str, list[Slot]] = {p: [] for p in people}
    out: list[tuple[str, int]] = []

    for slot in sorted(slots, key=lambda s: s.start):
        want = max((left[j] for j in covered[slot.index]), default=0)
        if want <= 0:
            continue

        def rank(p: str, i: int = slot.index) -> tuple[bool, bool, int, str]:
            return (i not in kept.get(p, ()), (p, i) not in had, len(taken[p]), p)

        for person in sorted(people, key=rank):
            if want <= 0:
                break
            mine = taken[person]
            if (person, slot.index) in banned or any(s.index in clash.get(slot.index, ()) for s in mine):
                continue
            ahead = kept.get(person, set()) - {slot.index}
            if ahead & clash.get(slot.index, set()) and slot.index not in kept.get(person, ()):
                continue  # it would cost them a shift they acknowledged
            if sum(1 for s in mine if slot.day - 7 < s.day <= slot.day) >= rules.max_per_week:
                continue
            if slot.night:
                nights = {s.day for s in mine if s.night}
                run = 0
                while slot.day - run - 1 in nights:
                    run += 1
                if run >= rules.max_consecutive_nights:
                    continue
            mine.append(slot)
            out.append((person, slot.index))
            want -= 1
            for j in covered[slot.index]:
                left[j] -= 1
    return out


class _Progress(cp_model.CpSolverSolutionCallback):
    def __init__(self, started: float) -> None:
        super().__init__()
        self.started, self.count = started, 0
        self.first: float | None = None

    def on_solution_callback(self) -> None:
        self.count += 1
        if self.first is None:
            self.first = time.monotonic() - self.started


def solve(
    people: Sequence[str],
    slots: Sequence[Slot],
    needs: Sequence[Need],
    rules: Rules,
    *,
    keep: Mapping[str, Sequence[int]] | None = None,
    forbid: Mapping[str, Sequence[int]] | None = None,
    prefer: Mapping[str, Sequence[int]] | None = None,
    time_limit: float = 20.0,
    workers: int = 2,
) -> Solution:
    """The plan. `keep`: slots people acknowledged (kept where the rules and availability allow);
    `forbid`: slots people may not work (declined, or too close to a shift under way); `prefer`:
    the slots of the plan being redone (the first hint keeps them where it can)."""
    started = time.monotonic()
    model = cp_model.CpModel()
    people = sorted(set(people))
    x = {(p, s.index): model.new_bool_var(f"x_{p}_{s.index}") for p in people for s in slots}
    for p, idx in (forbid or {}).items():
        for i in idx:
            if (p, i) in x:
                model.add(x[p, i] == 0)
    pairs = conflicts(slots, rules.rest)
    days = sorted({s.day for s in slots})
    nights_of: dict[tuple[str, int], Any] = {}  # (person, day) → works a night that day
    for p in people:
        for a, b in pairs:
            model.add_bool_or([x[p, a].Not(), x[p, b].Not()])
        for first in days:  # any 7 consecutive days
            week = [x[p, s.index] for s in slots if first <= s.day < first + 7]
            if len(week) > rules.max_per_week:
                model.add(sum(week) <= rules.max_per_week)
        nights = {d: [x[p, s.index] for s in slots if s.night and s.day == d] for d in days}
        night_day = {}
        for d, vars_ in nights.items():
            if not vars_:
                continue
            n = model.new_bool_var(f"n_{p}_{d}")
            model.add_max_equality(n, vars_)
            night_day[d] = n
            nights_of[p, d] = n
        k = rules.max_consecutive_nights
        for first in days:
            run = [night_day.get(first + i) for i in range(k + 1)]
            if all(v is not None for v in run):
                model.add(sum(v for v in run if v is not None) <= k)
    # Each slot's headcount once (people terms per slot), each interval over its slots' counts:
    # people x slots + needs terms instead of people x needs (340,000 terms at 1,000 people).
    # Nobody is rostered for a shift no interval of it needs (fairness must not add shifts): a
    # slot holds at most the most its intervals require, or the acknowledged shifts it keeps.
    covering = [[s.index for s in slots if s.start <= n.start and n.end <= s.end] for n in needs]
    cap = {s.index: 0 for s in slots}
    for need, idx in zip(needs, covering, strict=True):
        for i in idx:
            cap[i] = max(cap[i], need.required)
    for p, idx in (keep or {}).items():
        for i in idx:
            if (p, i) in x:
                cap[i] += 1
    headcount = {}
    for s in slots:
        count = model.new_int_var(0, min(len(people), cap[s.index]), f"on_{s.index}")
        model.add(count == sum(x[p, s.index] for p in people))
        headcount[s.index] = count
    short = []
    for j, (need, idx) in enumerate(zip(needs, covering, strict=True)):
        v = model.new_int_var(0, need.required, f"short_{j}")
        model.add(v >= need.required - sum(headcount[i] for i in idx))
        short.append(v)
    kept_vars = [x[p, i] for p, idx in (keep or {}).items() if p in people for i in idx if (p, i) in x]
    spread = []
    fair_counts: list[tuple[Any, str, frozenset[int]]] = []
    _marked: dict[str, frozenset[int]] = {}
    for name, flag in (("nights", "night"), ("weekends", "weekend")):
        marked = [s.index for s in slots if getattr(s, flag)]
        _marked[name] = frozenset(marked)
        if not marked or not people:
            continue
        counts = []
        for p in people:
            c = model.new_int_var(0, len(marked), f"{name}_{p}")
            model.add(c == sum(x[p, i] for i in marked))
            counts.append(c)
            fair_counts.append((c, p, frozenset(marked)))
        hi, lo = model.new_int_var(0, len(marked), f"{name}_hi"), model.new_int_var(0, len(marked), f"{name}_lo")
        model.add_max_equality(hi, counts)
        model.add_min_equality(lo, counts)
        spread.append((name, hi, lo))
    total_shifts = sum(x.values())
    n_vars = max(1, len(x))
    w_fair = n_vars + 1
    w_keep = w_fair * (2 * len(slots) + 1)
    w_short = w_keep * (len(kept_vars) + 1)
    model.minimize(
        w_short * sum(short) - w_keep * sum(kept_vars) + w_fair * sum(hi - lo for _, hi, lo in spread) + total_shifts
    )
    start_plan = set(greedy(people, slots, needs, rules, forbid, keep, prefer))
    greedy_seconds = time.monotonic() - started
    # An acknowledged shift the rules still allow (the greedy plan placed it) is a promise to a
    # person: kept for certain, not only as a weight a time-limited search may not reach.
    for p, idx in (keep or {}).items():
        for i in idx:
            if (p, i) in start_plan and (p, i) in x:
                model.add(x[p, i] == 1)
    for key, var in x.items():
        model.add_hint(var, key in start_plan)
    # The whole hint, not only who works what: CP-SAT completing the counts itself lost it (the
    # 110-person week came back worse than the greedy plan it was given).
    hinted = [0] * len(slots)
    for _, i in start_plan:
        hinted[i] += 1
    for i, count in headcount.items():
        model.add_hint(count, hinted[i])
    for need, idx, v in zip(needs, covering, short, strict=True):
        model.add_hint(v, max(0, need.required - sum(hinted[i] for i in idx)))
    night_days = {(p, slots[i].day) for p, i in start_plan if slots[i].night}
    for key, n in nights_of.items():
        model.add_hint(n, key in night_days)
    mine: dict[str, set[int]] = {}
    for p, i in start_plan:
        mine.setdefault(p, set()).add(i)
    values: dict[Any, int] = {}
    for c, p, flagged in fair_counts:
        values[c] = len(mine.get(p, set()) & flagged)
        model.add_hint(c, values[c])
    for name, hi, lo in spread:
        group = [values[c] for c, _, flagged in fair_counts if flagged == _marked[name]]
        model.add_hint(hi, max(group, default=0))
        model.add_hint(lo, min(group, default=0))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit)
    solver.parameters.num_workers = workers
    progress = _Progress(started)
    code = solver.solve(model, progress)
    status = {cp_model.OPTIMAL: "optimal", cp_model.FEASIBLE: "feasible", cp_model.INFEASIBLE: "infeasible"}.get(
        code, "unknown"
    )
    seconds = time.monotonic() - started
    if code == cp_model.INFEASIBLE:
        return Solution([], [n.required for n in needs], status, 0.0, 0.0, 1.0, progress.first, seconds)

    def left_by(plan: Sequence[tuple[str, int]]) -> list[int]:  # the shortfall a plan really leaves
        on = [0] * len(slots)
        for _, i in plan:
            on[i] += 1
        return [max(0, n.required - sum(on[i] for i in idx)) for n, idx in zip(needs, covering, strict=True)]

    wanted = {(p, i) for p, idx in (keep or {}).items() for i in idx}
    plan = sorted(start_plan, key=lambda a: (slots[a[1]].start, a[0]))
    left, greedy_kept = left_by(plan), len(wanted & start_plan)
    solved = code in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    assignments = [(p, i) for (p, i), v in x.items() if solver.boolean_value(v)] if solved else []
    shortfall = left_by(assignments)
    # None found in time, or one worse than the greedy plan on what comes first (the shortfall,
    # then the acknowledged shifts kept; a solver starved of CPU can return one): the greedy plan,
    # which keeps every rule, with no bound to measure it by.
    if not solved or (sum(shortfall), -len(wanted & set(assignments))) > (sum(left), -greedy_kept):
        return Solution(plan, left, "greedy", 0.0, 0.0, 1.0, greedy_seconds, seconds, greedy_kept, progress.count)
    objective, bound = solver.objective_value, solver.best_objective_bound
    gap = 0.0 if code == cp_model.OPTIMAL else abs(objective - bound) / max(1.0, abs(objective))
    return Solution(
        assignments=sorted(assignments, key=lambda a: (slots[a[1]].start, a[0])),
        shortfall=shortfall,
        status=status,
        objective=objective,
        bound=bound,
        gap=round(gap, 6),
        first_seconds=progress.first,
        seconds=seconds,
        kept=sum(1 for v in kept_vars if solver.boolean_value(v)),
        plans_found=progress.count,
        spread={name: int(solver.value(hi) - solver.value(lo)) for name, hi, lo in spread},
    )
