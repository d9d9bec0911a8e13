"""The library, as the Engine's part: the runbooks a manager may start (their inputs, trigger,
the sites each validates against) and every site (id, name, kind, time zone). Read from the
library directories (runbooks/library.py), cached per file until it changes, so the overview
and the runbooks page cost a stat of each file, not a load."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from runbooks.diagnostics import RunbookError
from runbooks.library import NotFound as LibraryNotFound
from runbooks.library import find_runbook, runbook_files, site_directories
from runbooks.models import Runbook
from runbooks.plan import load_runbook
from runbooks.sites import Site, load_site

from .errors import NotFound

_LOCK = threading.Lock()
_SITES: dict[Path, tuple[int, Site | None]] = {}
_RUNBOOKS: dict[Path, tuple[int, Runbook | None]] = {}
_VALID: dict[tuple[Path, int, Path, int], bool] = {}


def _stamp(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


def _site_stamp(directory: Path) -> int:
    """A site is its directory: any of its files changing reloads it."""
    return max((_stamp(p) for p in directory.iterdir() if p.is_file()), default=-1)


def _site(directory: Path) -> Site | None:
    stamp = _site_stamp(directory)
    with _LOCK:
        hit = _SITES.get(directory)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    try:
        site: Site | None = load_site(directory)
    except RunbookError:
        site = None  # a broken site is left out of the lists; `runbook validate` names its problems
    with _LOCK:
        _SITES[directory] = (stamp, site)
    return site


def _runbook(path: Path) -> Runbook | None:
    stamp = _stamp(path)
    with _LOCK:
        hit = _RUNBOOKS.get(path)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    try:
        runbook: Runbook | None = load_runbook(path)[1]
    except RunbookError:
        runbook = None
    with _LOCK:
        _RUNBOOKS[path] = (stamp, runbook)
    return runbook


def _validates(path: Path, directory: Path, site: Site) -> bool:
    key = (path, _stamp(path), directory, _site_stamp(directory))
    with _LOCK:
        hit = _VALID.get(key)
    if hit is not None:
        return hit
    try:
        load_runbook(path, site)
        ok = True
    except RunbookError:
        ok = False
    with _LOCK:
        _VALID[key] = ok
    return ok


def site_summary(site: Site) -> dict[str, Any]:
    return {"id": site.id, "name": site.name, "kind": site.kind, "timezone": site.timezone}


def input_json(name: str, spec: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": spec.type,
        "default": spec.default,
        "required": spec.required,
        "description": spec.description,
        "options": spec.options,
        "minimum": spec.minimum,
        "maximum": spec.maximum,
    }


class LibraryOps:
    def sites(self) -> list[dict[str, Any]]:
        """Every site of the library directories that loads, by id."""
        out = []
        for directory in site_directories().values():
            site = _site(directory)
            if site is not None:
                out.append(site_summary(site))
        return sorted(out, key=lambda s: s["id"])

    def runbooks(self) -> dict[str, Any]:
        """The library's runbooks that load: id, name, version, description, trigger."""
        out = []
        for rb_id, path in runbook_files().items():
            runbook = _runbook(path)
            if runbook is not None:
                out.append(self._summary(rb_id, runbook))
        return {"runbooks": sorted(out, key=lambda r: r["id"])}

    def runbook(self, runbook_id: str) -> dict[str, Any]:
        """One runbook: its summary, its inputs (type, default, description, choices, bounds)
        and the sites it validates against (the ones it can start at)."""
        try:
            path = find_runbook(runbook_id, allow_path=False)
        except LibraryNotFound as e:
            raise NotFound(str(e)) from None
        runbook = _runbook(path)
        if runbook is None:
            raise NotFound(f'runbook "{runbook_id}" does not load: `runbook validate {runbook_id}` names its problems')
        sites = []
        for directory in site_directories().values():
            site = _site(directory)
            if site is not None and _validates(path, directory, site):
                sites.append(site_summary(site))
        return self._summary(runbook_id, runbook) | {
            "inputs": [input_json(name, spec) for name, spec in runbook.inputs.items()],
            "sites": sorted(sites, key=lambda s: s["id"]),
        }

    @staticmethod
    def _summary(rb_id: str, runbook: Runbook) -> dict[str, Any]:
        trigger = runbook.trigger
        return {
            "id": rb_id,
            "name": runbook.name,
            "version": runbook.version,
            "description": runbook.description,
            "trigger": trigger.event if trigger is not None else None,
            "steps": len(runbook.steps),
        }
