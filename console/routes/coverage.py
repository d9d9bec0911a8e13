"""API and dashboard edge for 7x24 coverage: `GET /api/sites/{site}/coverage` and the site's
coverage page with a server-drawn heat map per queue (docs/api.md). Read-only: no form here."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from flows.coverage import gap_window, gaps

from .. import charts, i18n
from ..deps import Caller, Context, allowed, context, ident
from ..web import lang_of, live, render
from .pages import page

router = APIRouter()


def gap_view(gap: list[Any]) -> dict[str, Any]:
    """A gap for the page: its local window, the least staffed, the most required."""
    return {
        "window": gap_window(gap),
        "staffed": min(r["staffed"]["total"] for r in gap),
        "required": max(r["required"] for r in gap),
    }


@router.get("/api/sites/{site}/coverage")
def coverage(
    site: str,
    ctx: Context,
    queue: str | None = Query(None, max_length=64),
    hours: int = Query(72, ge=1, le=336),
    caller: Caller = Depends(allowed("coverage")),
) -> dict[str, Any]:
    return ctx.engine.coverage(
        ident(site, "site"), queue=ident(queue, "queue") if queue else None, hours=hours, allow_path=False
    )


@router.get("/sites/{site}/coverage", response_class=HTMLResponse, include_in_schema=False)
@page("coverage")
async def coverage_page(request: Request, caller: Caller) -> Response:
    engine = context(request).engine
    site_id = ident(request.path_params["site"], "site")
    hours = request.query_params.get("hours", "72")
    queues = await run_in_threadpool(
        engine.coverage_all, site_id, hours=int(hours) if hours.isdigit() and 1 <= int(hours) <= 336 else 72
    )
    site = await run_in_threadpool(engine.coverage_site, site_id, allow_path=False)
    run_id = next((q["run"] for q in queues if q["run"]), None)
    seq = 0
    if run_id is not None:
        seq = (await run_in_threadpool(engine.board, run_id))["last_event"]
    return render(
        request,
        caller,
        "coverage.html",
        title=f"{i18n.translator(lang_of(request))('Coverage')} · {site.name}",
        site=site,
        queues=[{**q, "map": charts.heatmap(q), "gaps": [gap_view(g) for g in gaps(q["intervals"])]} for q in queues],
        run_id=run_id,
        live_runs=[live(run_id, seq)] if run_id else [],
    )


@router.get("/coverage", response_class=HTMLResponse, include_in_schema=False)
@page("coverage")
async def coverage_index(request: Request, caller: Caller) -> Response:
    """Every site with a 7x24 service, with or without a run (the backup site too)."""
    sites = await run_in_threadpool(context(request).engine.coverage_sites)
    return render(
        request, caller, "coverage_sites.html", title=i18n.translator(lang_of(request))("Coverage"), sites=sites
    )
