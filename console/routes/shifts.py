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

from flows.errors import NotFound
from flows.lifecycle import Engine

from ..deps import Caller, Context, IdemKey, allowed, context, ident
from ..link_pages import LinkPage, first
from ..schemas import SwapBody
from ..web import web_key
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
    key = web_key(caller, form)
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
    return SHIFTS.show(token, ctx)


@router.post("/s/{token}", response_class=HTMLResponse)
async def shift_answer(token: str, request: Request, ctx: Context) -> HTMLResponse:
    return await SHIFTS.post(token, request, ctx)


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


def _answer(engine: Engine, token: str, form: dict[str, list[str]]) -> dict[str, Any]:
    return engine.answer_shifts(token, first(form, "answer"))


# the answer is judged before the link is looked up: a bad answer to an unknown link is a 404
SHIFTS = LinkPage(
    "shifts_answer.html",
    read=lambda engine, token: engine.shift_page(token),
    answer=_answer,
    view=view,
    checks_link_first=False,
)
