"""Welfare check-in edge: a person's own check-in page at `/c/<token>` (no account: the link is
theirs; one form with every question), answered by POST; unknown links throttled like the roll
call's (docs/api.md)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from flows.lifecycle import Engine

from ..deps import Context
from ..link_pages import LinkPage

router = APIRouter()
MAX_QUESTIONS = 20


def _answer(engine: Engine, token: str, form: dict[str, list[str]]) -> None:
    engine.answer_checkin(token, {k: v[0] for k, v in form.items() if v})


CHECKIN = LinkPage(
    "checkin.html", read=lambda engine, token: engine.checkin_page(token), answer=_answer, max_fields=MAX_QUESTIONS
)


@router.get("/c/{token}", response_class=HTMLResponse)
def checkin_page(token: str, ctx: Context) -> HTMLResponse:
    return CHECKIN.show(token, ctx)


@router.post("/c/{token}", response_class=HTMLResponse)
async def checkin_post(token: str, request: Request, ctx: Context) -> HTMLResponse:
    return await CHECKIN.post(token, request, ctx)
