"""Coverage: a site's queue + the supply of agents (a running run's people, or the baseline) +
a time window → per interval the calls, the Erlang C requirement, who is staffed, the gap and
the service level reached. Pure computation over rows already read; nothing here writes."""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from runbooks.service import Queue
from runbooks.sites import Site

from . import erlang
from .store import Reader

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_RUN_CACHE: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
_RUN_LOCK = threading.Lock()


@dataclass(frozen=True)
class Staffed:
    """Who a run supplies to one queue: staff ids on site and at home, items of a demand step."""

    onsite: frozenset[str] = frozenset()
    home: frozenset[str] = frozenset()
    demand_items: int = 0
    baseline: bool = False  # no running run: the queue's baseline counts
    run_id: str | None = None
    people: Mapping[str, str] = field(default_factory=dict)  # staff id → onsite/home
    # With a shift plan for the queue: staff id → their shifts [(start, end)] (UTC); a person
    # then counts only in the intervals of their shifts. None: no plan, everyone counts always.
    shifts: Mapping[str, tuple[tuple[dt.datetime, dt.datetime], ...]] | None = None
    # Active loans of the queue's agents: (start, end, agents lent in, agents lent out), UTC.
    lent: tuple[tuple[dt.datetime, dt.datetime, int, int], ...] = ()


def supply_steps(queue: Queue) -> list[str]:
    return sorted({s.step for s in queue.supply} | ({queue.per_item[0]} if queue.per_item else set()))


def supply_of(reader: Reader, run_id: str, queue: Queue) -> Staffed:
    """The people of each `supply` entry: the done items of a step (their item keys are staff
    ids), or the staff ids listed in a `people` field of the step's done tasks. A person counts
    once, on site before home."""
    steps = supply_steps(queue)
    staffed = supply_from(reader.tasks(run_id, steps=steps, states=["done"]) if steps else [], run_id, queue)
    planned: dict[str, list[tuple[dt.datetime, dt.datetime]]] = {}
    for s in reader.shifts(run_id):
        if s["queue"] == queue.id:
            planned.setdefault(s["person_id"], []).append((_aware(s["start_at"]), _aware(s["end_at"])))
    if not planned:
        return staffed
    return replace(staffed, shifts={p: tuple(times) for p, times in planned.items()})


def on_shift(staffed: Staffed, people: frozenset[str], start: dt.datetime, end: dt.datetime) -> int:
    """How many of `people` work in [start, end): all of them without a plan, else those whose
    shift covers it."""
    if staffed.shifts is None:
        return len(people)
    return sum(1 for p in people if any(a <= start and end <= b for a, b in staffed.shifts.get(p, ())))


def supply_from(done: Sequence[Mapping[str, Any]], run_id: str, queue: Queue) -> Staffed:
    by_step: dict[str, list[Mapping[str, Any]]] = {}
    for task in done:
        by_step.setdefault(task["step_id"], []).append(task)
    onsite: set[str] = set()
    home: set[str] = set()
    for entry in queue.supply:
        people: set[str] = set()
        for task in by_step.get(entry.step, []):
            if entry.field is None:
                if task["item_key"] is not None:
                    people.add(str(task["item_key"]))
            else:
                value = (task["outputs"] or {}).get(entry.field)
                if isinstance(value, list):
                    people.update(str(p) for p in value)
        (onsite if entry.as_ == "onsite" else home).update(people)
    home -= onsite
    items = len(by_step.get(queue.per_item[0], [])) if queue.per_item else 0
    roles = {p: "onsite" for p in onsite} | {p: "home" for p in home}
    return Staffed(frozenset(onsite), frozenset(home), items, False, run_id, roles)


def site_loans(reader: Reader, site_id: str, queue_id: str) -> list[dict[str, Any]]:
    """The active loans of a site's queue, lent in or out."""
    return [x for x in reader.loans(site=site_id, states=["active"]) if x["queue"] == queue_id]


def with_loans(staffed: Staffed, site_id: str, loans: list[dict[str, Any]], *, drill: bool) -> Staffed:
    """A site's supply with its active loans: lent in to it, lent out from it. A drill loan
    counts only in a drill's world: never in a site's real coverage."""
    lent = []
    for x in loans:
        if x["drill"] and not drill:
            continue
        agents = int(x["agents"])
        start, end = _aware(x["start_at"]), _aware(x["end_at"])
        lent.append((start, end, agents if x["to_site"] == site_id else 0, agents if x["from_site"] == site_id else 0))
    return replace(staffed, lent=tuple(lent)) if lent else staffed


def window(site: Site, queue: Queue, now: dt.datetime, hours: int) -> list[dt.datetime]:
    """The interval starts (UTC) from the one holding `now` for `hours` hours, aligned to the
    queue's grid in the site's local time."""
    tz = zoneinfo.ZoneInfo(site.timezone)
    local = now.astimezone(tz)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    offset = int((local - midnight).total_seconds()) // queue.interval * queue.interval
    first = (midnight + dt.timedelta(seconds=offset)).astimezone(dt.UTC)
    count = max(1, hours * 3600 // queue.interval)
    return [first + dt.timedelta(seconds=i * queue.interval) for i in range(count)]


def calls_at(queue: Queue, local: dt.datetime, staffed: Staffed) -> float:
    minute = local.hour * 60 + local.minute
    minute -= minute % (queue.interval // 60)
    if queue.per_item is not None:
        return staffed.demand_items * queue.per_item[1] * queue.interval / 3600
    surge = queue.surge.get((local.date().isoformat(), minute))
    if surge is not None:
        return surge
    return queue.demand.get((local.isoweekday(), minute), 0.0)


def intervals(site: Site, queue: Queue, starts: Sequence[dt.datetime], staffed: Staffed) -> list[dict[str, Any]]:
    """One row per interval: `{start, local, calls, required, staffed, gap, service_level}`."""
    tz = zoneinfo.ZoneInfo(site.timezone)
    step = dt.timedelta(seconds=queue.interval)
    rows = []
    for start in starts:
        local = start.astimezone(tz)
        calls = calls_at(queue, local, staffed)
        a = erlang.traffic(calls, queue.aht, queue.interval)
        agents = erlang.agents_needed(a, queue.ratio, queue.within, queue.aht)
        required = erlang.headcount(agents, queue.shrinkage)
        if staffed.baseline:
            minute = local.hour * 60 + local.minute
            onsite, home = (
                (queue.baseline or {}).get((local.isoweekday(), minute - minute % (queue.interval // 60)), 0),
                0,
            )
        else:
            onsite, home = (
                on_shift(staffed, staffed.onsite, start, start + step),
                on_shift(staffed, staffed.home, start, start + step),
            )
        # A lent block counts in every interval it overlaps: a loan filed at 09:10 helps from 09:00.
        lent_in = sum(n for a, b, n, _ in staffed.lent if a < start + step and start < b)
        lent_out = sum(n for a, b, _, n in staffed.lent if a < start + step and start < b)
        total = max(0, onsite + home + lent_in - lent_out)
        level = erlang.service_level(erlang.on_phone(total, queue.shrinkage), a, queue.within, queue.aht)
        rows.append(
            {
                "start": start.isoformat().replace("+00:00", "Z"),
                "local": local.isoformat(),
                "end_local": (start + step).astimezone(tz).isoformat(),
                "calls": round(calls, 3),
                "required": required,
                "staffed": {
                    "onsite": onsite,
                    "home": home,
                    "lent_in": lent_in,
                    "lent_out": lent_out,
                    "total": total,
                },
                "gap": max(0, required - total),
                "service_level": round(level, 4),
            }
        )
    return rows


def covered_share(rows: Sequence[Mapping[str, Any]]) -> float:
    """The share of intervals whose staffed headcount meets the required one."""
    if not rows:
        return 1.0
    return sum(1 for r in rows if r["gap"] == 0) / len(rows)


def gaps(rows: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """Consecutive short intervals, grouped: one gap each."""
    out: list[list[Mapping[str, Any]]] = []
    for r in rows:
        if r["gap"] == 0:
            continue
        if out and out[-1][-1]["end_local"] == r["local"]:
            out[-1].append(r)
        else:
            out.append([r])
    return out


def gap_window(gap: Sequence[Mapping[str, Any]]) -> str:
    """`Tue 02:00–02:30`: a gap's local day and times."""
    first, last = dt.datetime.fromisoformat(gap[0]["local"]), dt.datetime.fromisoformat(gap[-1]["end_local"])
    return f"{DAY_NAMES[first.weekday()]} {first:%H:%M}–{last:%H:%M}"


def gap_text(gap: Sequence[Mapping[str, Any]]) -> str:
    """`Tue 02:00–02:30: 9 staffed, 14 required` (the least staffed, the most required)."""
    staffed = min(r["staffed"]["total"] for r in gap)
    required = max(r["required"] for r in gap)
    return f"{gap_window(gap)}: {staffed} staffed, {required} required"


def run_rows(
    reader: Reader, run_id: str, site: Site, queue: Queue, now: dt.datetime, hours: int
) -> list[dict[str, Any]]:
    """A run's own coverage of one queue, cached per change of the run (its last event) and
    per interval: the runner looks every second, the work is done once a change."""
    starts = window(site, queue, now, hours)
    loans = site_loans(reader, site.id, queue.id)
    signature = tuple((x["id"], x["state"]) for x in loans)
    key = (run_id, reader.last_event_seq(run_id), reader.shift_count(run_id), signature, queue.id, starts[0], hours)
    with _RUN_LOCK:
        hit = _RUN_CACHE.get(key)
    if hit is None:
        run = reader.run(run_id)
        staffed = with_loans(supply_of(reader, run_id, queue), site.id, loans, drill=bool(run and run["drill"]))
        hit = intervals(site, queue, starts, staffed)
        with _RUN_LOCK:
            if len(_RUN_CACHE) >= 512:
                _RUN_CACHE.pop(next(iter(_RUN_CACHE)))
            _RUN_CACHE[key] = hit
    return hit


def history(
    reader: Reader, run_id: str, site: Site, queue: Queue, now: dt.datetime, hours: int, start: dt.datetime, points: int
) -> list[tuple[dt.datetime, float]]:
    """A coverage objective's burn-up: the share of today's window that the staffing of each
    earlier moment would cover (supply as it grew: one point per bucket in which some of it
    was done), ending now."""
    steps = supply_steps(queue)
    done = sorted(
        (t for t in (reader.tasks(run_id, steps=steps, states=["done"]) if steps else []) if t["ended_at"]),
        key=lambda t: t["ended_at"],
    )
    starts = window(site, queue, now, hours)
    bucket = max((now - start).total_seconds() / points, 0.001)
    series = [(start, covered_share(intervals(site, queue, starts, supply_from([], run_id, queue))))]
    i = 0
    while i < len(done):
        ended = _aware(done[i]["ended_at"])
        edge = start + dt.timedelta(seconds=(int((ended - start).total_seconds() // bucket) + 1) * bucket)
        while i < len(done) and _aware(done[i]["ended_at"]) < edge:
            i += 1
        staffed = supply_from(done[:i], run_id, queue)
        series.append((min(edge, now), covered_share(intervals(site, queue, starts, staffed))))
    return series


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
