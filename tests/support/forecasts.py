"""Waiting for the background forecast (flows/forecaster.py) of a run's latest change: readers
never simulate, so a test reading right after a change waits until every objective's forecast
reflects it (`as_of` ≥ the run's newest event), or is known without one (met, missed, ended)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.support.processes import wait_for


def current(objectives: list[dict[str, Any]], seq: int) -> bool:
    """Every objective's forecast reflects event `seq`, or none is due (not `pending`)."""
    return all(
        (o["forecast"] is not None and o["forecast"]["as_of"] is not None and o["forecast"]["as_of"] >= seq)
        or (o["forecast"] is None and o["state"] != "pending")
        for o in objectives
    )


def forecast_after_change(store: Any, run: str, read: Callable[[], list[dict[str, Any]]], timeout: float = 60) -> Any:
    """`read()` (objectives) once it reflects the run's newest event; generous by default."""
    with store.read() as r:
        seq = r.last_event_seq(run)
    return wait_for(
        lambda: (lambda objectives: objectives if current(objectives, seq) else None)(read()),
        timeout,
        what=f"the forecast of run {run} as of event {seq}",
    )
