"""Progress, one definition for every view (CLI, API, overview, run page, phases, steps):
task counts by state → `{done, remaining, failed, skipped, cancelled, percent}`.

`percent` = 100 × done / (done + remaining + failed), from 0 to 100, or None when nothing
counts. Rejected counts as failed; skipped and cancelled count in neither part: work that was
not needed is neither progress nor missing (a person who changed their answer from "home" to
"cannot work" leaves their pipeline cancelled, not 100% done), while failed work stays in the
denominator until it is retried or skipped (a failed setup is not progress)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .states import OPEN


def progress(counts: Mapping[str, int]) -> dict[str, Any]:
    done = int(counts.get("done", 0))
    failed = int(counts.get("failed", 0)) + int(counts.get("rejected", 0))
    remaining = sum(int(counts.get(s, 0)) for s in OPEN)
    counted = done + remaining + failed
    return {
        "done": done,
        "remaining": remaining,
        "failed": failed,
        "skipped": int(counts.get("skipped", 0)),
        "cancelled": int(counts.get("cancelled", 0)),
        "percent": round(100.0 * done / counted, 1) if counted else None,
    }


def total(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Counts by state, added up (a run's from its steps', a phase's from its steps')."""
    out: dict[str, int] = {}
    for states in counts:
        for state, n in states.items():
            out[state] = out.get(state, 0) + n
    return out
