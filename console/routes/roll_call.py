"""API edge: roll calls — a manager's personal links, a lead's answers for their teams'
people, a manager's closing, the headcount, the SMS gateway's inbound answers, and staff's own
answer pages at `/r/<token>` (no account: the link is theirs) (docs/api.md)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from flows.errors import EngineError, NotFound

from .. import auth
from ..deps import Caller, Context, IdemKey, allowed, ident
from ..pages import render_page
from ..schemas import AnswerBody, ReasonBody, SmsBody
from ..web import read_form

log = logging.getLogger("runbook.api")
router = APIRouter()


@router.get("/api/runs/{run}/muster/{step}/links")
def muster_links(run: str, step: str, ctx: Context, caller: Caller = Depends(allowed("muster_links"))) -> Any:
    return ctx.engine.muster_links(ident(run, "run"), ident(step, "step"), caller.actor)


@router.post("/api/runs/{run}/muster/{step}/answers")
def muster_answer(
    run: str,
    step: str,
    body: AnswerBody,
    ctx: Context,
    key: IdemKey,
    caller: Caller = Depends(allowed("muster_answer")),
) -> Any:
    return ctx.engine.answer(
        ident(run, "run"),
        ident(step, "step"),
        ident(body.person, "person"),
        body.option,
        caller.actor,
        via="lead",
        note=body.note,
        key=key,
    )


@router.post("/api/runs/{run}/muster/{step}/close")
def muster_close(
    run: str, step: str, body: ReasonBody, ctx: Context, key: IdemKey, caller: Caller = Depends(allowed("muster_close"))
) -> Any:
    return ctx.engine.close_muster(ident(run, "run"), ident(step, "step"), caller.actor, reason=body.reason, key=key)


@router.get("/api/runs/{run}/muster/{step}/headcount")
def headcount(run: str, step: str, ctx: Context, caller: Caller = Depends(allowed("headcount"))) -> Any:
    return ctx.engine.headcount(ident(run, "run"), ident(step, "step"))


@router.get("/api/runs/{run}/headcount")
def run_headcount(run: str, ctx: Context, caller: Caller = Depends(allowed("headcount"))) -> Any:
    return ctx.engine.headcount(ident(run, "run"))


@router.post("/api/inbound/sms", status_code=202)
def inbound_sms(body: SmsBody, ctx: Context, caller: Caller = Depends(allowed("inbound_sms"))) -> Any:
    """The same answer whatever the number: the gateway must not learn who a number belongs to,
    or whether a roll call asks them (the answer itself is in the run's audit)."""
    try:
        ctx.engine.answer_sms(body.from_, body.text, caller.actor)
    except EngineError as e:
        log.info("an inbound SMS was not counted (%s)", e.code)  # neither the number nor the text
    return {"received": True}


@router.get("/r/{token}", response_class=HTMLResponse)
def answer_page(token: str, ctx: Context) -> HTMLResponse:
    page = ctx.engine.answer_page(token)
    if page is None:
        return HTMLResponse(render_page("gone.html"), 404)
    return HTMLResponse(render_page("answer.html", **page))


@router.post("/r/{token}", response_class=HTMLResponse)
async def answer_post(token: str, request: Request, ctx: Context) -> HTMLResponse:
    client = auth.client_of(request)
    if ctx.link_limiter.retry_after(client):
        return HTMLResponse(render_page("gone.html", busy=True), 429)
    form = await read_form(request, max_fields=5)  # more: 413
    option = (form.get("option") or [""])[0]
    try:
        await run_in_threadpool(ctx.engine.answer_link, token, option)
    except NotFound:
        ctx.link_limiter.failed(client)  # guessing links is throttled, apart from logins
        return HTMLResponse(render_page("gone.html"), 404)
    except EngineError as e:
        page: dict[str, Any] | None = await run_in_threadpool(ctx.engine.answer_page, token)
        if page is None:
            return HTMLResponse(render_page("gone.html"), 410)
        return HTMLResponse(render_page("answer.html", **page, error=e.message), e.status)
    page = await run_in_threadpool(ctx.engine.answer_page, token)
    return HTMLResponse(render_page("answer.html", **(page or {}), thanks=True))
