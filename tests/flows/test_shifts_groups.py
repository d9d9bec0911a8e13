"""A big center's shift plan by decomposition (flows/shift_groups.py): 400 people in groups of at
most 150, every rule kept for every person (checked here from the assignments), the shortfall
counted over the whole plan, a declined slot never given back, acknowledged shifts kept, and
nobody but the eligible planned."""

from __future__ import annotations

import datetime as dt

from flows import shift_groups
from flows.shift_solver import Need, Rules, build_slots

RULES = Rules(rest=12 * 3600, max_per_week=5, max_consecutive_nights=3)
PATTERNS = ((8 * 60, 8 * 3600), (16 * 60, 8 * 3600), (0, 8 * 3600))


def plan(people: list[str], required: int, **kw):
    slots = build_slots("Asia/Shanghai", dt.date(2030, 1, 7), 3, PATTERNS, dt.datetime(2030, 1, 1, tzinfo=dt.UTC))
    needs = []
    for s in slots:  # one need per half hour of each slot
        t = s.start
        while t < s.end:
            needs.append(Need(t, t + dt.timedelta(minutes=30), required))
            t += dt.timedelta(minutes=30)
    return slots, needs, shift_groups.solve(people, slots, needs, RULES, time_limit=10, **kw)


def test_400_people_are_planned_in_groups_keeping_every_rule_and_what_people_said():
    people = [f"P{i:04d}" for i in range(400)]
    declined = {"P0001": [0, 1, 2], "P0150": [3]}
    acknowledged = {"P0002": [1]}
    slots, needs, sol = plan(people, 150, forbid=declined, keep=acknowledged)
    assert sol.groups == 3 and sol.status in ("optimal", "feasible", "greedy") and sol.first_seconds is not None
    mine: dict[str, list[int]] = {}
    for person, i in sol.assignments:
        mine.setdefault(person, []).append(i)
    assert set(mine) <= set(people)
    for person, idx in mine.items():
        times = sorted((slots[i].start, slots[i].end) for i in idx)
        for (_, end), (start, _) in zip(times, times[1:], strict=False):
            assert (start - end).total_seconds() >= RULES.rest, person
        assert len(idx) <= RULES.max_per_week
    for person, idx in declined.items():
        assert not set(mine.get(person, [])) & set(idx), f"{person} works a slot they declined"
    assert 1 in mine["P0002"] and sol.kept == 1
    # 400 people, one shift a day each at most (rest 12h): 150 a slot needs 450 a day; short.
    on = [0] * len(slots)
    for _, i in sol.assignments:
        on[i] += 1
    assert sol.shortfall == [
        max(0, n.required - on[slots.index(next(s for s in slots if s.start <= n.start < s.end))]) for n in needs
    ]
    assert sum(sol.shortfall) > 0


def test_a_small_center_is_one_model():
    _, _, sol = plan([f"P{i:04d}" for i in range(40)], 10)
    assert sol.groups == 1 and sum(sol.shortfall) == 0
