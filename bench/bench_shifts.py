"""Benchmark shift plans: CP-SAT plans (flows/shift_solver.py through flows/shift_plan.py) for
110 and 1,000 people over 7 days, three 8-hour patterns, rest 12h, at most 5 shifts a week and
3 nights running, on the Xi'an hotline's demand (scaled by people/110 for the bigger center, so
both are short at the peaks in the same proportion). Reported per size: the time to the first
plan and to the final one (the time limit, or proven optimal), the final gap, the shortfall left
(agent-intervals), and that every rule holds (checked here, not by the solver). One JSON line
per size; the goal is a first plan within the time limit's tenth.

    python bench/bench_shifts.py [--sizes 110,1000] [--limit 20]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import sys
import zoneinfo
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PARAMS = {
    "queue": "hotline",
    "days": 7,
    "patterns": [
        {"start": "08:00", "length": "8h"},
        {"start": "16:00", "length": "8h"},
        {"start": "00:00", "length": "8h"},
    ],
    "rest": "12h",
    "max_per_week": 5,
    "max_consecutive_nights": 3,
}


def check(assignments: list[tuple[str, int]], slots: list, rest: int) -> bool:
    mine: dict[str, list] = {}
    for person, i in assignments:
        mine.setdefault(person, []).append(slots[i])
    for shifts in mine.values():
        shifts.sort(key=lambda s: s.start)
        if len(shifts) > PARAMS["max_per_week"]:
            return False
        for a, b in zip(shifts, shifts[1:], strict=False):
            if (b.start - a.end).total_seconds() < rest:
                return False
        nights = sorted({s.day for s in shifts if s.night})
        streak = 1
        for a, b in zip(nights, nights[1:], strict=False):
            streak = streak + 1 if b == a + 1 else 1
            if streak > PARAMS["max_consecutive_nights"]:
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="110,1000")
    parser.add_argument("--limit", type=float, default=20.0)
    args = parser.parse_args()
    from flows import shift_groups, shift_plan
    from flows.coverage import Staffed
    from runbooks.sites import load_site

    site = load_site(ROOT / "runbooks" / "sites" / "xian")
    rules = shift_plan.rules_of({**PARAMS, "time_limit": f"{int(args.limit)}s"})
    tz = zoneinfo.ZoneInfo(site.timezone)
    start = dt.datetime(2030, 1, 7, tzinfo=tz)
    slots = shift_plan.horizon(site, rules, start.astimezone(dt.UTC), start.date())
    base = shift_plan.needs_of(site, site.service["hotline"], slots, Staffed())
    for size in (int(s) for s in args.sizes.split(",")):
        needs = [dataclasses.replace(n, required=round(n.required * size / 110)) for n in base]
        people = [f"P{i:05d}" for i in range(size)]
        sol = shift_groups.solve(people, slots, needs, rules.rules, time_limit=rules.time_limit)
        first = sol.first_seconds or float("inf")
        print(
            json.dumps(
                {
                    "bench": "shifts",
                    "metric": f"first_plan_seconds_{size}_people_7_days",
                    "ours": round(first, 3),
                    "baseline": args.limit,
                    "ratio": round(first / args.limit, 4),
                    "goal": "<= 0.1",
                    "met": first <= args.limit * 0.1,
                    "final_seconds": round(sol.seconds, 3),
                    "status": sol.status,
                    "gap": sol.gap,
                    "plans_found": sol.plans_found,
                    "groups": sol.groups,
                    "shifts": len(sol.assignments),
                    "required_agent_intervals": sum(n.required for n in needs),
                    "shortfall_agent_intervals": sum(sol.shortfall),
                    "spread": sol.spread,
                    "rules_hold": check(sol.assignments, slots, rules.rules.rest),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
