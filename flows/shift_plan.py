"""Shift plans: a `shifts` step's rules (its params) + a site's queue + the eligible people +
the moment → the slots, the required headcount per interval (Erlang C, flows/coverage.py), the
solver's plan (flows/shift_solver.py) and the shifts as rows `{person, queue, start, end}` with
the shortfall left. What the runner's executor and the benchmark call; nothing here writes."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runbooks.models import parse_duration
from runbooks.service import Queue
from runbooks.sites import Site

from . import coverage, shift_groups, shift_solver
from .shift_solver import Need, Rules, Slot, Solution

DEFAULT_TIME_LIMIT = 20.0


@dataclass(frozen=True)
class ShiftRules:
    queue: str
    days: int
    patterns: tuple[tuple[int, int], ...]  # (start minute of the day, length in seconds)
    rules: Rules
    time_limit: float


def rules_of(params: Mapping[str, Any]) -> ShiftRules:
    """A planned `shifts` step's params (validated by runbooks/validate.py) → its rules."""
    patterns = []
    for p in params["patterns"]:
        hours, minutes = (int(x) for x in str(p["start"]).split(":"))
        patterns.append((hours * 60 + minutes, parse_duration(p["length"])))
    limit = params.get("time_limit")
    return ShiftRules(
        queue=params["queue"],
        days=int(params["days"]),
        patterns=tuple(patterns),
        rules=Rules(
            rest=parse_duration(params.get("rest") or "0s"),
            max_per_week=int(params.get("max_per_week") or 7),
            max_consecutive_nights=int(params.get("max_consecutive_nights") or params["days"]),
        ),
        time_limit=float(parse_duration(limit)) if limit else DEFAULT_TIME_LIMIT,
    )


def horizon(site: Site, rules: ShiftRules, now: dt.datetime, first_day: dt.date | None = None) -> list[Slot]:
    """The slots of the plan: `days` days from today (local), those not yet started."""
    day = first_day or now.astimezone(zoneinfo.ZoneInfo(site.timezone)).date()
    return shift_solver.build_slots(site.timezone, day, rules.days, rules.patterns, now)


def needs_of(site: Site, queue: Queue, slots: Sequence[Slot], staffed: coverage.Staffed) -> list[Need]:
    """The required headcount of each interval between the first slot's start and the last one's end."""
    if not slots:
        return []
    first, last = min(s.start for s in slots), max(s.end for s in slots)
    hours = int((last - first).total_seconds() // 3600) + 1
    rows = coverage.intervals(site, queue, coverage.window(site, queue, first, hours), staffed)
    step = dt.timedelta(seconds=queue.interval)
    out = []
    for r in rows:
        start = dt.datetime.fromisoformat(r["start"].replace("Z", "+00:00"))
        if first <= start and start + step <= last:
            out.append(Need(start, start + step, int(r["required"])))
    return out


def plan_shifts(
    site: Site,
    rules: ShiftRules,
    people: Sequence[str],
    now: dt.datetime,
    *,
    staffed: coverage.Staffed | None = None,
    keep: Mapping[str, Sequence[tuple[dt.datetime, dt.datetime]]] | None = None,
    forbid: Mapping[str, Sequence[tuple[dt.datetime, dt.datetime]]] | None = None,
    prefer: Mapping[str, Sequence[tuple[dt.datetime, dt.datetime]]] | None = None,
    fixed: Sequence[Mapping[str, Any]] = (),
    first_day: dt.date | None = None,
    time_limit: float | None = None,
) -> dict[str, Any]:
    """The plan as `{shifts: [{person, queue, start, end, night, weekend}], shortfall: [{start,
    end, short}], status, gap, seconds, first_seconds, kept}`. `keep`: shifts (start, end) people
    acknowledged, kept where they can be; `forbid`: shifts people said they cannot work;
    `fixed`: shifts that already started (counted, not moved)."""
    queue = site.service[rules.queue]
    slots = horizon(site, rules, now, first_day)
    needs = needs_of(site, queue, slots, staffed or coverage.Staffed())
    # A shift already under way covers its intervals: the solver plans the rest.
    fixed_needs = []
    for n in needs:
        on = sum(1 for f in fixed if f["start"] <= n.start and n.end <= f["end"])
        fixed_needs.append(Need(n.start, n.end, max(0, n.required - on)))
    by_time = {(s.start, s.end): s.index for s in slots}
    keep_idx = {p: [by_time[t] for t in times if t in by_time] for p, times in (keep or {}).items()}
    forbid_idx = {p: [by_time[t] for t in times if t in by_time] for p, times in (forbid or {}).items()}
    prefer_idx = {p: [by_time[t] for t in times if t in by_time] for p, times in (prefer or {}).items()}
    # Who works a shift already under way: no other shift too close to it.
    for f in fixed:
        near = [
            s.index
            for s in slots
            if s.start < f["end"] + dt.timedelta(seconds=rules.rules.rest)
            and f["start"] < s.end + dt.timedelta(seconds=rules.rules.rest)
        ]
        forbid_idx.setdefault(f["person"], []).extend(near)
    solution: Solution = shift_groups.solve(
        people,
        slots,
        fixed_needs,
        rules.rules,
        keep=keep_idx,
        forbid=forbid_idx,
        prefer=prefer_idx,
        time_limit=time_limit or rules.time_limit,
    )
    return {
        "shifts": [
            {
                "person": p,
                "queue": rules.queue,
                "start": slots[i].start,
                "end": slots[i].end,
                "night": slots[i].night,
                "weekend": slots[i].weekend,
            }
            for p, i in solution.assignments
        ],
        "shortfall": [
            {"start": n.start, "end": n.end, "short": s} for n, s in zip(needs, solution.shortfall, strict=True) if s
        ],
        "required": [{"start": n.start, "end": n.end, "required": n.required} for n in needs],
        "status": solution.status,
        "gap": solution.gap,
        "seconds": round(solution.seconds, 3),
        "first_seconds": None if solution.first_seconds is None else round(solution.first_seconds, 3),
        "kept": solution.kept,
        "spread": solution.spread,
        "groups": solution.groups,
    }
