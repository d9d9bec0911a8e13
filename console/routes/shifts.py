"""API edge: shift plans — a run's shifts (`GET /api/runs/{run}/shifts`), a lead's swap, and
staff's own shift pages at `/s/<token>` (no account: the link is theirs) with their `.ics`
(docs/api.md)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from flows.errors import EngineError, NotFound

from .. import auth
from ..deps import Caller, Context, IdemKey, allowed, context, ident
from ..pages import render_page
from ..schemas import SwapBody
from ..web import read_form
from .pages import Form, page

router = APIRouter()


@router.get("/api/runs/{run}/shifts")
def shifts(
    run: str,
    ctx: Context,
    person: str | None = Query(None, max_length=64),
    all: bool = Query(False),
    caller: Caller = Depends(allowed("shifts")),
) -> list[dict[str, Any]]:
    return ctx.engine.shifts(ident(run, "run"), person=ident(person, "person") if person else None, all_=all)


@router.post("/api/runs/{run}/shifts/{shift}/swap")
def swap(
    run: str, shift: str, body: SwapBody, ctx: Context, key: IdemKey, caller: Caller = Depends(allowed("shift_swap"))
) -> dict[str, Any]:
    return ctx.engine.swap_shift(
        ident(run, "run"), ident(shift, "shift"), caller.actor, to=ident(body.to, "person"), reason=body.reason, key=key
    )


@router.post("/runs/{run}/shifts/{shift}/swap", include_in_schema=False)
@page("shift_swap", "POST")
async def swap_form(request: Request, caller: Caller, form: Form) -> Response:
    """The person page's swap form (a lead of the step's owner team, or a manager)."""
    engine = context(request).engine
    run_id, shift_id = ident(request.path_params["run"], "run"), ident(request.path_params["shift"], "shift")
    to = ident((form.get("to") or [""])[0].strip() or "-", "person")
    idem = (form.get("idem") or [""])[0]
    key = f"web:{caller.account['id']}:{idem}" if idem and caller.account else None
    reason = (form.get("reason") or [""])[0]
    result = await run_in_threadpool(
        lambda: engine.swap_shift(run_id, shift_id, caller.actor, to=to, reason=reason, key=key)
    )
    person = result["shift"]["person"]
    return RedirectResponse(f"/runs/{run_id}/people/{person}?ok=swap", 303)


@router.get("/s/{token}.ics")
def shift_ics(token: str, ctx: Context) -> Response:
    try:
        body = ctx.engine.shift_ics(token)
    except NotFound:
        return Response("not found\n", 404, media_type="text/plain")
    return Response(
        body, media_type="text/calendar", headers={"Content-Disposition": 'attachment; filename="shifts.ics"'}
    )


@router.get("/s/{token}", response_class=HTMLResponse)
def shift_page(token: str, ctx: Context) -> HTMLResponse:
    try:
        page = ctx.engine.shift_page(token)
    except NotFound:
        return HTMLResponse(render_page("gone.html"), 404)
    return HTMLResponse(render_page("shifts_answer.html", **view(page, token)))


@router.post("/s/{token}", response_class=HTMLResponse)
async def shift_answer(token: str, request: Request, ctx: Context) -> HTMLResponse:
    client = auth.client_of(request)
    if ctx.link_limiter.retry_after(client):
        return HTMLResponse(render_page("gone.html", busy=True), 429)
    form = await read_form(request, max_fields=5)
    answer = (form.get("answer") or [""])[0]
    try:
        page = await run_in_threadpool(ctx.engine.answer_shifts, token, answer)
    except NotFound:
        ctx.link_limiter.failed(client)  # guessing links is throttled, apart from logins
        return HTMLResponse(render_page("gone.html"), 404)
    except EngineError as e:
        try:
            again = await run_in_threadpool(ctx.engine.shift_page, token)
        except NotFound:  # a bad answer through an unknown link: the link is what is wrong
            ctx.link_limiter.failed(client)
            return HTMLResponse(render_page("gone.html"), 404)
        return HTMLResponse(render_page("shifts_answer.html", **view(again, token), error=e.message), e.status)
    return HTMLResponse(render_page("shifts_answer.html", **view(page, token), thanks=True))


def view(page: dict[str, Any], token: str) -> dict[str, Any]:
    """The page's shifts in the site's local time; whether any still waits for an answer."""
    tz = zoneinfo.ZoneInfo(page["site"]["timezone"])

    def local(text: str) -> str:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(tz).strftime("%a %Y-%m-%d %H:%M")

    shifts = [{**s, "start_local": local(s["start"]), "end_local": local(s["end"])} for s in page["shifts"]]
    return {
        **page,
        "shifts": shifts,
        "planned": any(s["status"] == "planned" for s in shifts),
        "lang": "zh-CN" if page["person"].get("lang") == "zh-CN" else "en",
        "ics": f"/s/{token}.ics",
    }
