"""Welfare check-in edge: a person's own check-in page at `/c/<token>` (no account: the link is
theirs; one form with every question), answered by POST; unknown links throttled like the roll
call's (docs/api.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from flows.errors import EngineError, NotFound

from .. import auth
from ..deps import Context
from ..pages import render_page
from ..web import read_form

router = APIRouter()
MAX_QUESTIONS = 20


@router.get("/c/{token}", response_class=HTMLResponse)
def checkin_page(token: str, ctx: Context) -> HTMLResponse:
    page = ctx.engine.checkin_page(token)
    if page is None:
        return HTMLResponse(render_page("gone.html"), 404)
    return HTMLResponse(render_page("checkin.html", **page))


@router.post("/c/{token}", response_class=HTMLResponse)
async def checkin_post(token: str, request: Request, ctx: Context) -> HTMLResponse:
    client = auth.client_of(request)
    if ctx.link_limiter.retry_after(client):
        return HTMLResponse(render_page("gone.html", busy=True), 429)
    form = await read_form(request, max_fields=MAX_QUESTIONS)  # more: 413
    answers = {k: v[0] for k, v in form.items() if v}
    try:
        await run_in_threadpool(ctx.engine.answer_checkin, token, answers)
    except NotFound:
        ctx.link_limiter.failed(client)
        return HTMLResponse(render_page("gone.html"), 404)
    except EngineError as e:
        page: dict[str, Any] | None = await run_in_threadpool(ctx.engine.checkin_page, token)
        if page is None:
            return HTMLResponse(render_page("gone.html"), 410)
        return HTMLResponse(render_page("checkin.html", **page, error=e.message), e.status)
    page = await run_in_threadpool(ctx.engine.checkin_page, token)
    return HTMLResponse(render_page("checkin.html", **(page or {}), thanks=True))
