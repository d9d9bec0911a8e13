"""Personal-link pages edge: a token from a message (`/c/`, `/r/`, `/s/`) → the person's page
(no account: the link is theirs) and their answer by POST — the one way these pages read, answer,
throttle unknown links (apart from logins) and show a refusal, whatever the link is for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from flows.errors import EngineError, NotFound
from flows.lifecycle import Engine

from . import auth
from .deps import AppContext
from .pages import render_page
from .web import read_form

Page = dict[str, Any]


def _as_is(page: Page, token: str) -> Page:
    return page


@dataclass(frozen=True)
class LinkPage:
    """What one kind of link does: `read(engine, token)` → the page's data (None or `NotFound`:
    not a known link); `answer(engine, token, form)` → the page after the answer, or None to read
    it again (raises `NotFound` for an unknown link, an `EngineError` for a refused answer);
    `view(page, token)` → the template's context. `checks_link_first`: the answer looks the link
    up before it judges the answer, so a refused answer whose page is then gone names a link
    that went away (410); when the answer is judged first (shifts), it names an unknown link
    (404, counted as a guess)."""

    template: str
    read: Callable[[Engine, str], Page | None]
    answer: Callable[[Engine, str, dict[str, list[str]]], Page | None]
    max_fields: int = 5  # more: 413
    view: Callable[[Page, str], Page] = _as_is
    checks_link_first: bool = True

    def page_of(self, engine: Engine, token: str) -> Page | None:
        try:
            return self.read(engine, token)
        except NotFound:
            return None

    def show(self, token: str, ctx: AppContext) -> HTMLResponse:
        """The GET: the person's page, or "gone" (404) for a link nobody has."""
        page = self.page_of(ctx.engine, token)
        if page is None:
            return HTMLResponse(render_page("gone.html"), 404)
        return HTMLResponse(render_page(self.template, **self.view(page, token)))

    async def post(self, token: str, request: Request, ctx: AppContext) -> HTMLResponse:
        """The POST: the answer, then the page thanking them; a refusal shown on the page with its
        status; an unknown link counted against the caller's address (guessing is throttled)."""
        client = auth.client_of(request)
        if ctx.link_limiter.retry_after(client):
            return HTMLResponse(render_page("gone.html", busy=True), 429)
        form = await read_form(request, max_fields=self.max_fields)
        try:
            page = await run_in_threadpool(self.answer, ctx.engine, token, form)
        except NotFound:
            ctx.link_limiter.failed(client)
            return HTMLResponse(render_page("gone.html"), 404)
        except EngineError as e:
            again = await run_in_threadpool(self.page_of, ctx.engine, token)
            if again is None and self.checks_link_first:
                return HTMLResponse(render_page("gone.html"), 410)
            if again is None:  # a bad answer through an unknown link: the link is what is wrong
                ctx.link_limiter.failed(client)
                return HTMLResponse(render_page("gone.html"), 404)
            return HTMLResponse(render_page(self.template, **self.view(again, token), error=e.message), e.status)
        if page is None:
            page = await run_in_threadpool(self.page_of, ctx.engine, token)
        return HTMLResponse(render_page(self.template, **(self.view(page, token) if page else {}), thanks=True))


def first(form: dict[str, list[str]], name: str) -> str:
    """A form field's first value, as sent ("" when absent)."""
    return (form.get(name) or [""])[0]
