"""Coverage, as the Engine's part that reads it: a site (id or directory) + queue + hours → the
intervals of flows/coverage.py, supplied by the site's running run (or its baseline). Computed
on read, cached per change of that run; never inside a check-off's transaction."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runbooks.diagnostics import RunbookError
from runbooks.library import NotFound as LibraryNotFound
from runbooks.library import find_site, site_directories
from runbooks.service import Queue
from runbooks.sites import Site

from . import coverage, rules
from .errors import Invalid, NotFound
from .runstate import plan_of
from .store import Reader, Store, utcnow

MAX_HOURS = 24 * 14
_CACHE: dict[tuple[Any, ...], dict[str, Any]] = {}
_SITES: dict[str, tuple[tuple[Any, ...], Site]] = {}
_LOCK = threading.Lock()


def site_loaded(name: str, allow_path: bool = True) -> Site:
    """A site by id or directory, loaded again only when one of its files changed (a page
    refreshed every second must not parse its CSVs every second)."""
    try:
        directory = find_site(name, allow_path=allow_path)
    except LibraryNotFound as e:
        raise NotFound(str(e)) from None
    stamp = tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in directory.iterdir() if p.is_file()))
    key = str(directory.resolve())
    with _LOCK:
        hit = _SITES.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    loaded = rules.site_named(str(directory), True)
    with _LOCK:
        if len(_SITES) >= 64:
            _SITES.pop(next(iter(_SITES)))
        _SITES[key] = (stamp, loaded)
    return loaded


def clear_cache() -> None:
    """Forget every computed answer (the benchmark's cold reads)."""
    with _LOCK:
        _CACHE.clear()
        _SITES.clear()


def supplying_run(reader: Reader, site_id: str, queue: Queue) -> dict[str, Any] | None:
    """The site's running run whose runbook has the steps the queue's supply names (the first
    started), or None: then the baseline counts."""
    names = {s.step for s in queue.supply}
    for row in reader.runs(states=["running"], site_id=site_id):
        plan = plan_of(row, reader)
        if any(plan.find(n) is not None for n in names):
            return row
    return None


def staffed_for(reader: Reader, site_id: str, queue: Queue) -> coverage.Staffed:
    row = supplying_run(reader, site_id, queue)
    if row is None:
        return coverage.Staffed(baseline=True)
    return coverage.supply_of(reader, row["id"], queue)


def loan_view(x: Mapping[str, Any], site_id: str) -> dict[str, Any]:
    return {
        "id": x["id"],
        "direction": "in" if x["to_site"] == site_id else "out",
        "from_site": x["from_site"],
        "to_site": x["to_site"],
        "agents": x["agents"],
        "start": _iso(x["start_at"]),
        "end": _iso(x["end_at"]),
        "drill": bool(x["drill"]),
        "state": x["state"],
    }


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return _aware(moment).astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def queue_of(site: Site, queue: str | None) -> Queue:
    if not site.service:
        raise NotFound(f'site "{site.id}" has no service: queues (site.yaml)')
    if queue is None:
        return next(iter(site.service.values()))
    if queue not in site.service:
        raise NotFound(f'site "{site.id}" has no queue "{queue}" (queues: {", ".join(site.service)})')
    return site.service[queue]


class CoverageOps:
    def __init__(self, store: Store):
        self.store = store

    def coverage_site(self, site: str | Path | Site, *, allow_path: bool = True) -> Site:
        """A site by id (or directory); a running run's snapshot wins over the library's copy."""
        resolved = site if isinstance(site, Site) else site_loaded(str(site), allow_path)
        with self.store.read() as r:
            for row in r.runs(states=["running"], site_id=resolved.id):
                return plan_of(row, r).site
        return resolved

    def coverage(
        self,
        site: str | Path | Site,
        *,
        queue: str | None = None,
        hours: int = 72,
        now: dt.datetime | None = None,
        allow_path: bool = True,
    ) -> dict[str, Any]:
        """`{site, queue, timezone, run, baseline, covered, intervals}` for one queue."""
        if not 1 <= hours <= MAX_HOURS:
            raise Invalid(f"hours must be from 1 to {MAX_HOURS}, got {hours}")
        resolved = self.coverage_site(site, allow_path=allow_path)
        q = queue_of(resolved, queue)
        now = now or utcnow()
        starts = coverage.window(resolved, q, now, hours)
        with self.store.read() as r:
            run = supplying_run(r, resolved.id, q)
            seq = (r.last_event_seq(run["id"]), r.shift_count(run["id"])) if run else (0, 0)
            loans = coverage.site_loans(r, resolved.id, q.id)
            signature = tuple((x["id"], x["state"]) for x in loans)
            key = (self.store.url, resolved.id, q.id, hours, run["id"] if run else None, seq, signature, starts[0])
            with _LOCK:
                hit = _CACHE.get(key)
            if hit is not None:
                return hit
            staffed = coverage.supply_of(r, run["id"], q) if run else coverage.Staffed(baseline=True)
        staffed = coverage.with_loans(staffed, resolved.id, loans, drill=bool(run and run["drill"]))
        rows = coverage.intervals(resolved, q, starts, staffed)
        data = answer(resolved, q, run, staffed, rows)
        data["loans"] = [loan_view(x, resolved.id) for x in loans]
        with _LOCK:
            if len(_CACHE) >= 256:
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = data
        return data

    def coverage_sites(self) -> list[dict[str, Any]]:
        """Every site of the library with a `service:`: id, name, queues, the run supplying it."""
        out = []
        for site_id in site_directories():
            try:
                site = self.coverage_site(site_id, allow_path=False)
            except (NotFound, RunbookError):
                continue  # a broken site directory is `runbook validate`'s to report
            if not site.service:
                continue
            with self.store.read() as r:
                runs = [supplying_run(r, site.id, q) for q in site.service.values()]
            run = next((row["id"] for row in runs if row), None)
            out.append({"id": site.id, "name": site.name, "queues": list(site.service), "run": run})
        return out

    def coverage_all(self, site: str, *, hours: int = 72) -> list[dict[str, Any]]:
        """Every queue of a site (the coverage page); a site is named by id here."""
        resolved = self.coverage_site(site, allow_path=False)
        return [self.coverage(resolved, queue=q, hours=hours) for q in resolved.service]


def answer(
    site: Site, queue: Queue, run: Mapping[str, Any] | None, staffed: coverage.Staffed, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "site": site.id,
        "queue": queue.id,
        "name": queue.name,
        "timezone": site.timezone,
        "interval": queue.interval,
        "run": run["id"] if run else None,
        "drill": bool(run["drill"]) if run else False,  # a drill's people count here, not in the real hotline
        "baseline": staffed.baseline,
        "covered": round(coverage.covered_share(rows), 4),
        "intervals": rows,
    }
