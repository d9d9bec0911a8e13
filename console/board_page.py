"""Dashboard edge: a run's board → the run page's parts derived from it (the board as the
caller's role may see it, the burn-up and graph geometry, the headcounts of its open roll
calls, the task list without a filter), kept beside the board they come from: while
`Engine.board` answers with the same board (its cache, flows/board.py: no event and no newer
forecast since), a view derives none of them again; a new board derives them anew."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import auth, charts, listing


@dataclass(frozen=True)
class RunPageParts:
    data: dict[str, Any]  # the board, redacted for the caller's role
    charts: dict[str, dict[str, Any]]
    graph: dict[str, Any]
    headcounts: list[dict[str, Any]]
    tasks: dict[str, Any]  # the task list (kept: without a filter)


_KEPT: dict[tuple[int, str, bool], tuple[dict[str, Any], RunPageParts]] = {}
_LOCK = threading.Lock()
KEPT_RUNS = 64


def run_page_parts(engine: Any, run_id: str, role: str, params: Mapping[str, str]) -> RunPageParts:
    """The run page's parts for a caller of `role` (in a worker thread: it reads the store)."""
    board = engine.board(run_id)
    key = (id(engine), run_id, auth.sees_private(role))  # a board is redacted one way or not at all
    with _LOCK:
        kept = _KEPT.get(key)
    if kept is not None and kept[0] is board:  # the same board object: nothing happened since
        parts = kept[1]
    else:
        data = auth.redact(board, role)
        parts = RunPageParts(
            data=data,
            charts={o["id"]: charts.burnup(o) for o in data["objectives"]},
            graph=charts.graph(data["graph"]),
            # a roll call's headcount changes with an answer or its task, each an event: a new board
            headcounts=[engine.headcount(run_id, m) for m in data["open_musters"]],
            tasks=auth.redact(listing.task_list(engine, run_id, {}), role),
        )
        with _LOCK:
            if len(_KEPT) >= KEPT_RUNS and key not in _KEPT:
                _KEPT.pop(next(iter(_KEPT)))
            _KEPT[key] = (board, parts)
    if any(listing.task_filters(params).values()):  # a filtered list is read at each view
        filtered = auth.redact(listing.task_list(engine, run_id, params), role)
        return RunPageParts(parts.data, parts.charts, parts.graph, parts.headcounts, filtered)
    return parts
