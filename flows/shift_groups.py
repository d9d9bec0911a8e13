"""Shift plans for big centers, by decomposition: people + slots + needs + rules → the plan of
flows/shift_solver.py, solved for groups of at most GROUP_SIZE people each staffing its share of
the demand (the required headcount × the group's share of the people, rounded up). Groups with
no acknowledged or forbidden shifts are the same model, so one CP-SAT model is solved for all of
them and its plan given to each (the first plan of 1,000 people is that of ~143); a group whose
people have their own shifts to keep or avoid is solved on its own in the time left (such people
are put together, so they fill few groups). The shortfall and the spread are counted again over
the whole plan. Pure computation."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence

from .shift_solver import Need, Rules, Slot, Solution
from .shift_solver import solve as solve_one

GROUP_SIZE = 150  # CP-SAT finds a first plan for this many people over a week within a second or two


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
    """The plan: one CP-SAT model for up to GROUP_SIZE people, else by groups (the gap is then
    that of the groups' models, not a bound on the whole)."""
    everyone = sorted(set(people))
    if len(everyone) <= GROUP_SIZE:
        return solve_one(
            everyone,
            slots,
            needs,
            rules,
            keep=keep,
            forbid=forbid,
            prefer=prefer,
            time_limit=time_limit,
            workers=workers,
        )
    started = time.monotonic()
    keep, forbid = keep or {}, forbid or {}
    k = math.ceil(len(everyone) / GROUP_SIZE)
    # Those with shifts of their own to keep or avoid first, so they fill as few groups as can be.
    ordered = [p for p in everyone if p in keep or p in forbid] + [
        p for p in everyone if p not in keep and p not in forbid
    ]
    q, r = divmod(len(ordered), k)
    bounds = [i * q + min(i, r) for i in range(k + 1)]
    groups = [ordered[bounds[i] : bounds[i + 1]] for i in range(k)]  # sizes differ by one at most
    size = len(groups[0])
    shared = [g for g in groups if not any(p in keep or p in forbid for p in g)]
    own = [g for g in groups if g not in shared]
    runs = (1 if shared else 0) + len(own)
    share = [Need(n.start, n.end, math.ceil(n.required * size / len(everyone))) for n in needs]
    assignments: list[tuple[str, int]] = []
    parts: list[tuple[Solution, int]] = []  # a model's plan and how many groups it staffs
    first: float | None = None
    if shared:
        # The widest group stands for all: a narrower one drops its last member's shifts.
        stand_in = [f"#{i:04d}" for i in range(size)]
        sol = solve_one(stand_in, slots, share, rules, time_limit=time_limit / runs, workers=workers)
        index = {p: i for i, p in enumerate(stand_in)}
        for group in shared:
            assignments += [(group[index[p]], s) for p, s in sol.assignments if index[p] < len(group)]
        parts.append((sol, len(shared)))
        first = _at(started, sol)
    for group in own:
        mine = [Need(n.start, n.end, math.ceil(n.required * len(group) / len(everyone))) for n in needs]
        budget = max(1.0, time_limit - (time.monotonic() - started)) / max(1, runs - len(parts))
        sol = solve_one(
            group,
            slots,
            mine,
            rules,
            keep={p: keep[p] for p in group if p in keep},
            forbid={p: forbid[p] for p in group if p in forbid},
            prefer={p: (prefer or {})[p] for p in group if p in (prefer or {})},
            time_limit=budget,
            workers=workers,
        )
        assignments += sol.assignments
        parts.append((sol, 1))
        first = _at(started, sol)  # the whole plan exists once the last group has one
    return _combined(assignments, parts, everyone, slots, needs, started, first, k)


def _at(started: float, sol: Solution) -> float | None:
    """When, from `started`, this model's first plan came (its solve began `sol.seconds` before now)."""
    if sol.first_seconds is None:
        return None
    return time.monotonic() - started - sol.seconds + sol.first_seconds


def _combined(
    assignments: list[tuple[str, int]],
    parts: list[tuple[Solution, int]],
    people: Sequence[str],
    slots: Sequence[Slot],
    needs: Sequence[Need],
    started: float,
    first: float | None,
    groups: int,
) -> Solution:
    covering = [[s.index for s in slots if s.start <= n.start and n.end <= s.end] for n in needs]
    on = [0] * len(slots)
    for _, i in assignments:
        on[i] += 1
    shortfall = [max(0, n.required - sum(on[i] for i in idx)) for n, idx in zip(needs, covering, strict=True)]
    statuses = {sol.status for sol, _ in parts}
    status = next((s for s in ("infeasible", "unknown", "greedy", "feasible") if s in statuses), "optimal")
    objective = sum(sol.objective * n for sol, n in parts)
    bound = sum(sol.bound * n for sol, n in parts)
    gap = 1.0 if status in ("greedy", "infeasible", "unknown") else abs(objective - bound) / max(1.0, abs(objective))
    return Solution(
        assignments=sorted(assignments, key=lambda a: (slots[a[1]].start, a[0])),
        shortfall=shortfall,
        status=status,
        objective=objective,
        bound=bound,
        gap=round(gap, 6),
        first_seconds=first,
        seconds=time.monotonic() - started,
        kept=sum(sol.kept for sol, _ in parts),
        plans_found=sum(sol.plans_found for sol, _ in parts),
        spread=_spread(assignments, people, slots),
        groups=groups,
    )


def _spread(assignments: Sequence[tuple[str, int]], people: Sequence[str], slots: Sequence[Slot]) -> dict[str, int]:
    """Nights and weekend shifts: the most anybody works minus the fewest, as the solver counts it."""
    out = {}
    for name, flag in (("nights", "night"), ("weekends", "weekend")):
        if not any(getattr(s, flag) for s in slots) or not people:
            continue
        counts = dict.fromkeys(people, 0)
        for p, i in assignments:
            counts[p] += bool(getattr(slots[i], flag))
        out[name] = max(counts.values()) - min(counts.values())
    return out
