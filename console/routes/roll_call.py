"""API edge: roll calls — a manager's personal links, a lead's answers for their teams'
people, a manager's closing, the headcount, the SMS gateway's inbound answers, and staff's own
answer pages at `/r/<token>` (no account: the link is theirs) (docs/api.md)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from flows.errors import EngineError
from flows.lifecycle import Engine

from ..deps import Caller, Context, IdemKey, allowed, ident
from ..link_pages import LinkPage, first
from ..schemas import AnswerBody, ReasonBody, SmsBody

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


def _answer(engine: Engine, token: str, form: dict[str, list[str]]) -> dict[str, Any] | None:
    """The answer, then the page showing it (read after the answer's commit), in one trip to a
    worker thread."""
    engine.answer_link(token, first(form, "option"))
    return engine.answer_page(token)


ANSWER = LinkPage("answer.html", read=lambda engine, token: engine.answer_page(token), answer=_answer)


@router.get("/r/{token}", response_class=HTMLResponse)
def answer_page(token: str, ctx: Context) -> HTMLResponse:
    return ANSWER.show(token, ctx)


@router.post("/r/{token}", response_class=HTMLResponse)
async def answer_post(token: str, request: Request, ctx: Context) -> HTMLResponse:
    return await ANSWER.post(token, request, ctx)
