"""Grant ledger edge: `GET /api/sites/{site}/grants` (filters `state`, `system`, `person`,
`drill`), the managers' page `/sites/{site}/grants` with the same filters, and its CSV export
`/sites/{site}/grants.csv` (docs/api.md). Read-only: revocations are the engine's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from .. import i18n
from ..deps import Caller, Context, allowed, context, ident
from ..exports import grants_csv
from ..listing import filter_value
from ..web import lang_of, render
from .exports import csv_file
from .pages import page

router = APIRouter()


def _filters(params: Any) -> dict[str, Any]:
    person = filter_value(params, "person")
    system = filter_value(params, "system")
    return {
        "state": filter_value(params, "state"),
        "system": ident(system, "system") if system else None,
        "person": ident(person, "person") if person else None,
        "drill": (params.get("drill") or "") in ("1", "true"),
    }


@router.get("/api/sites/{site}/grants")
def grants(
    site: str,
    ctx: Context,
    request: Request,
    caller: Caller = Depends(allowed("grants")),
) -> dict[str, Any]:
    return ctx.engine.grants(ident(site, "site"), **_filters(request.query_params))


@router.get("/sites/{site}/grants.csv", include_in_schema=False)
def grants_export(site: str, request: Request, ctx: Context, caller: Caller = Depends(allowed("grants"))) -> Response:
    site_id = ident(site, "site")
    data = ctx.engine.grants(site_id, **_filters(request.query_params))
    return csv_file(grants_csv(data["grants"]), f"grants-{site_id}{'-drill' if data['drill'] else ''}.csv")


@router.get("/sites/{site}/grants", response_class=HTMLResponse, include_in_schema=False)
@page("grants")
async def grants_page(request: Request, caller: Caller) -> Response:
    engine = context(request).engine
    site_id = ident(request.path_params["site"], "site")
    filters = _filters(request.query_params)
    data = await run_in_threadpool(lambda: engine.grants(site_id, **filters))
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v not in (None, False)).replace("drill=True", "drill=1")
    return render(
        request,
        caller,
        "grants.html",
        title=f"{i18n.translator(lang_of(request))('Grants')} · {data['site_name']}",
        data=data,
        filters=filters,
        query=query,
    )
