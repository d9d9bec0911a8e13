"""People edge: one person's story in a run — `GET /api/runs/{run}/people/{person}` and its page
`/runs/{run}/people/{person}` (who, their roll-call answers, the items of their pipeline) — and
finding people of the run's roster by a part of their name or id (`?q=`, the run page's search
box) (docs/api.md)."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from .. import auth
from ..deps import Caller, Context, allowed, context, ident
from ..web import render, segment
from .pages import page

router = APIRouter()


@router.get("/api/runs/{run}/people")
def people(run: str, ctx: Context, q: str = "", caller: Caller = Depends(allowed("people"))) -> Any:
    return ctx.engine.people(ident(run, "run"), q)


@router.get("/api/runs/{run}/people/{person}")
def person(run: str, person: str, ctx: Context, caller: Caller = Depends(allowed("person"))) -> Any:
    return auth.redact(ctx.engine.person(ident(run, "run"), ident(person, "person")), caller.role)


@router.get("/runs/{run}/people", response_class=HTMLResponse, include_in_schema=False)
@page("people")
async def people_page(request: Request, caller: Caller) -> Response:
    """The search's results; a search that finds one person goes to their page."""
    run_id, query = request.path_params["run"], request.query_params.get("q", "")
    data = await run_in_threadpool(context(request).engine.people, run_id, query)
    if len(data["people"]) == 1 and not data["more"]:
        return RedirectResponse(f"/runs/{segment(run_id)}/people/{segment(data['people'][0]['id'])}", 303)
    return render(request, caller, "people.html", title=query, data=data, run_id=run_id)


@router.get("/runs/{run}/people/{person}", response_class=HTMLResponse, include_in_schema=False)
@page("person")
async def person_page(request: Request, caller: Caller) -> Response:
    run_id, person_id = request.path_params["run"], request.path_params["person"]
    data = auth.redact(await run_in_threadpool(context(request).engine.person, run_id, person_id), caller.role)
    return render(
        request, caller, "person.html", title=data["person"]["name"], data=data, idem=secrets.token_urlsafe(12)
    )
