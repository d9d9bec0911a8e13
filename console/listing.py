"""Listing edge: filters and pages over lists the dashboard shows — the audit by actor, action
and target (substring, case ignored), a run's tasks and "my tasks" by their fields — and paging
(50 entries a page). Bad filter values are refused naming the parameter."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from flows.errors import Invalid
from flows.states import STATES

PAGE_SIZE = 50
MAX_FILTER = 200


def filter_value(params: Mapping[str, str], name: str) -> str | None:
    value = (params.get(name) or "").strip()
    if len(value) > MAX_FILTER:
        raise Invalid(f"the filter {name} is at most {MAX_FILTER} characters")
    return value or None


def page_number(params: Mapping[str, str]) -> int:
    raw = (params.get("page") or "1").strip()
    if not raw.isdigit() or int(raw) < 1:
        raise Invalid(f'page must be a whole number from 1, got "{raw[:20]}"')
    return int(raw)


def filter_audit(
    entries: Sequence[Mapping[str, Any]], *, actor: str | None, action: str | None, target: str | None
) -> list[Mapping[str, Any]]:
    """Entries whose actor, action and target contain the given parts (case ignored)."""
    wanted = [(k, v.casefold()) for k, v in (("actor", actor), ("action", action), ("target", target)) if v]
    return [e for e in entries if all(v in str(e.get(k) or "").casefold() for k, v in wanted)]


def paged(items: Sequence[Any], page: int, size: int = PAGE_SIZE) -> dict[str, Any]:
    """One page of `items`: `{items, page, pages, total, size}`; a page past the end is refused."""
    pages = max(1, math.ceil(len(items) / size))
    if page > pages:
        raise Invalid(f"page {page} is past the last page ({pages})")
    return {
        "items": list(items[(page - 1) * size : page * size]),
        "page": page,
        "pages": pages,
        "total": len(items),
        "size": size,
    }


def task_filters(params: Mapping[str, str]) -> dict[str, str | None]:
    return {name: filter_value(params, name) for name in ("team", "state", "step")}


def task_list(engine: Any, run_id: str, params: Mapping[str, str]) -> dict[str, Any]:
    """The run page's task list: the run's tasks filtered by team, state and step, one page of
    them, with the filters to show in the form and the CSV link."""
    filters = task_filters(params)
    shown = any(filters.values())
    tasks = engine.tasks(run_id, **filters) if shown else []
    teams = engine.site_teams(run_id)
    if filters["team"] and filters["team"].casefold() not in {t.casefold() for t in teams}:
        raise Invalid(f'team: "{filters["team"]}" is not a team of this run\'s site (teams: {", ".join(teams)})')
    return {
        "filters": filters,
        "shown": shown,
        "teams": teams,
        "states": [*STATES, "overdue"],
        **paged(tasks, page_number(params) if shown else 1),
    }


def audit_view(data: Mapping[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
    """The audit page: its entries filtered by actor, action and target, 50 a page."""
    filters = {name: filter_value(params, name) for name in ("actor", "action", "target")}
    entries = filter_audit(data["entries"], **filters)
    return {"filters": filters, **paged(entries, page_number(params))}


def my_view(data: Mapping[str, Any], params: Mapping[str, str]) -> dict[str, Any]:
    """ "My tasks" narrowed to one run and one step (`run`, `step`), with the choices to offer."""
    run, step = filter_value(params, "run"), filter_value(params, "step")
    choices = {
        "runs": [(r["run"], r["name"]) for r in data["runs"]],
        "steps": sorted({t["step"] for r in data["runs"] for t in r["tasks"]}),
    }
    runs = []
    for r in data["runs"]:
        if run and r["run"] != run:
            continue
        tasks = [t for t in r["tasks"] if not step or t["step"] == step]
        if tasks:
            runs.append({**r, "tasks": tasks})
    return {**data, "runs": runs, "filters": {"run": run, "step": step}, "choices": choices}
