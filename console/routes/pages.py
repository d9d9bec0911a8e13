"""Dashboard edge: the pages and forms (server-rendered, console/web.py) behind the policy
rows of their JSON twins, with the API's sessions, CSRF check and audit of refusals; errors
are pages with the status the API would give (console/errors.py) (docs/api.md)."""

from __future__ import annotations

import logging
import secrets
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from flows.errors import EngineError, Invalid

from .. import auth, i18n, listing
from ..board_page import RunPageParts, run_page_parts
from ..deps import Caller, audit_refusal, authenticate, check_policy, context
from ..errors import ApiError, problem_of
from ..pages import render_page
from ..web import (
    FEED_BACKLOG,
    error_page,
    fields_of,
    flash_of,
    lang_of,
    live,
    login_context,
    one,
    read_form,
    render,
    safe_next,
    segment,
    to_login,
    web_key,
)

log = logging.getLogger("runbook.web")
router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parents[1] / "static"
STATIC_TYPES = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "answer.css": "text/css; charset=utf-8",
    "report.css": "text/css; charset=utf-8",
}
ACTIONS = ("complete", "approve", "reject", "skip", "retry", "reassign")  # each its own policy row
Form = dict[str, list[str]]
PageHandler = Callable[..., Awaitable[Response]]


async def who(request: Request, route: str) -> Caller | None:
    """The caller, or None (to the login page); a refusal is audited like the API's."""
    if not request.headers.get("authorization") and not request.cookies.get(auth.COOKIE):
        return None
    try:
        caller = await authenticate(request)
    except ApiError as e:
        if e.status == 401:
            return None
        raise
    return await check_policy(request, caller, route)


def page(route: str | Callable[[Form], str], method: str = "GET") -> Callable[[PageHandler], PageHandler]:
    """A page (or a form's POST) behind the policy row `route` (for a form, possibly named by
    the form: the task page's action), with errors as pages."""

    def wrap(handler: PageHandler) -> PageHandler:
        async def endpoint(request: Request) -> Response:
            form = None
            try:
                if method == "POST":
                    form = await read_form(request)
                    request.state.form_csrf = one(form, "csrf")
                caller = await who(request, route(form) if callable(route) and form is not None else str(route))
                if caller is None:
                    return to_login(request)
                return await handler(request, caller, form) if method == "POST" else await handler(request, caller)
            except Exception as e:
                problem = problem_of(e)
                if problem is None:
                    raise
                return error_page(request, getattr(request.state, "caller", None), problem)

        endpoint.__name__ = f"page_{getattr(route, '__name__', route)}_{method.lower()}"
        return endpoint

    return wrap


def redact(caller: Caller, data: Any) -> Any:
    return auth.redact(data, caller.role)


# --- pages -------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
@page("overview")
async def overview(request: Request, caller: Caller) -> Response:
    engine = context(request).engine
    data = redact(caller, await run_in_threadpool(engine.overview))
    runs = [
        live(run["id"], run["last_event"])
        for site in data["sites"]
        for run in site["runs"]
        if run["state"] == "running"
    ]
    title = i18n.translator(lang_of(request))("Sites")
    return render(
        request,
        caller,
        "overview.html",
        title=title,
        data=data,
        live_runs=runs,
        idem=secrets.token_urlsafe(12),
        flash=flash_of(request),
    )


@router.get("/runs/{run}", response_class=HTMLResponse)
@page("board")
async def run_page(request: Request, caller: Caller) -> Response:
    engine = context(request).engine
    run_id = request.path_params["run"]

    def reads() -> tuple[RunPageParts, list[str]]:
        """The page's reads, in one trip to a worker thread (a trip costs about as much as a read);
        what it derives from the board is kept with the board (console/board_page.py)."""
        parts = run_page_parts(engine, run_id, caller.role, request.query_params)
        pools = []
        if caller.role == "manager" and parts.data["blocked"]["count"]:
            pools = sorted(engine.pools(parts.data["site"]["id"])["pools"])
        return parts, pools

    parts, pools = await run_in_threadpool(reads)
    data = parts.data
    return render(
        request,
        caller,
        "run.html",
        title=data["run"]["name"],
        data=data,
        live_runs=[live(run_id, data["last_event"] - FEED_BACKLOG)],
        feed_tz=data["site"]["timezone"],
        charts=parts.charts,
        graph=parts.graph,
        pools=pools,
        headcounts=parts.headcounts,
        tasks=parts.tasks,
        idem=secrets.token_urlsafe(12),
        flash=flash_of(request),
    )


async def task_view(request: Request, caller: Caller, status: int = 200, **flash: Any) -> Response:
    """The task page (also after a refused action, with the refusal as its flash)."""
    engine = context(request).engine
    run_id, task_id = request.path_params["run"], request.path_params["task"]
    data = redact(caller, await run_in_threadpool(engine.task_page, run_id, task_id, caller.actor))
    roll_call = data["roll_call"]  # a roll call's task or a team's call task: its call list
    may_call = roll_call is not None and caller.role in auth.POLICY["calls"]
    calls = await run_in_threadpool(engine.call_list, run_id, roll_call, caller.actor) if may_call else None
    return render(
        request,
        caller,
        "task.html",
        status,
        title=data["task"]["title"],
        data=data,
        calls=calls,
        live_runs=[live(run_id, data["run"]["last_event"])],
        idem=secrets.token_urlsafe(12),
        **({"flash": flash_of(request)} | flash),
    )


@router.get("/runs/{run}/tasks/{task}", response_class=HTMLResponse)
@page("task")
async def task_page(request: Request, caller: Caller) -> Response:
    return await task_view(request, caller)


@router.get("/my", response_class=HTMLResponse)
@page("my_tasks")
async def my_page(request: Request, caller: Caller) -> Response:
    data = redact(caller, await run_in_threadpool(context(request).engine.my_tasks, caller.actor))
    data = listing.my_view(data, request.query_params)
    return render(
        request,
        caller,
        "my.html",
        title=i18n.translator(lang_of(request))("My tasks"),
        data=data,
        live_runs=[live(r["run"], r["last_event"]) for r in data["runs"]],
        idem=secrets.token_urlsafe(12),
        flash=flash_of(request),
    )


@router.get("/runs/{run}/audit", response_class=HTMLResponse)
@page("audit")
async def audit_page(request: Request, caller: Caller) -> Response:
    engine = context(request).engine
    run_id = request.path_params["run"]
    data = redact(caller, await run_in_threadpool(engine.audit, run_id))
    tz = (await run_in_threadpool(engine.board_site, run_id))["timezone"]
    shown = listing.audit_view(data, request.query_params)
    return render(request, caller, "audit.html", title="Audit", data=data, shown=shown, tz=tz, flash=None)


# --- forms -------------------------------------------------------------------------------------


def task_action(form: Form) -> str:
    action = one(form, "action") or ""
    if action not in ACTIONS:
        raise Invalid(f'unknown action "{action[:40]}"')
    return action


async def refused(request: Request, caller: Caller, what: str, e: EngineError) -> None:
    """The engine's refusals (not your team's task) are audited like the policy's."""
    if e.status == 403:
        await audit_refusal(request, caller.actor.label, e.message, what)


@router.post("/runs/{run}/tasks/{task}")
@page(task_action, "POST")
async def task_form(request: Request, caller: Caller, form: Form) -> Response:
    engine = context(request).engine
    action = task_action(form)
    run_id, task_id = request.path_params["run"], request.path_params["task"]
    note, reason, key = one(form, "note"), one(form, "reason"), web_key(caller, form)
    a = caller.actor
    calls: dict[str, Callable[[], Any]] = {
        "complete": lambda: engine.complete(
            run_id, task_id, a, note=note, fields=fields_of(form), reason=reason, key=key
        ),
        "approve": lambda: engine.approve(run_id, task_id, a, note=note, reason=reason, key=key),
        "reject": lambda: engine.reject(run_id, task_id, a, reason=reason, key=key),
        "skip": lambda: engine.skip(run_id, task_id, a, reason=reason),
        "retry": lambda: engine.retry(run_id, task_id, a, reason=reason),
        "reassign": lambda: engine.reassign(run_id, task_id, a, reason=reason, to=one(form, "to")),
    }
    try:
        await run_in_threadpool(calls[action])
    except EngineError as e:
        await refused(request, caller, f"{action} {run_id}/{task_id}", e)
        return await task_view(request, caller, e.status, flash=e.message, flash_kind="err")
    return RedirectResponse(f"/runs/{segment(run_id)}/tasks/{segment(task_id)}?ok={action}", 303)


@router.post("/my")
@page("complete_bulk", "POST")
async def bulk_form(request: Request, caller: Caller, form: Form) -> Response:
    engine = context(request).engine
    run_id, action = one(form, "run") or "", one(form, "action") or "complete"
    tasks = [t for t in form.get("task", []) if t]
    if action not in ("complete", "approve") or not tasks:
        raise Invalid("choose one or more tasks to check off")
    note = one(form, "note")
    values = fields_of(form)
    ok, failed, first = 0, 0, None
    for task_id in tasks:
        key = web_key(caller, form, task_id)
        try:
            if action == "approve":
                await run_in_threadpool(engine.approve, run_id, task_id, caller.actor, note=note, key=key)
            else:
                await run_in_threadpool(
                    engine.complete, run_id, task_id, caller.actor, note=note, fields=values, key=key
                )
            ok += 1
        except EngineError as e:
            await refused(request, caller, f"{action} {run_id}/{task_id}", e)
            failed += 1
            first = first or f"{task_id}: {e.message}"
    if first:  # why the first one failed, in the log; the page shows counts only (no text from a URL)
        log.info("bulk %s by %s on %s: %d refused, first: %s", action, caller.actor.label, run_id, failed, first)
    return RedirectResponse(f"/my?{urllib.parse.urlencode({'ok': ok, 'failed': failed})}", 303)


@router.post("/runs/{run}/cancel")
@page("cancel", "POST")
async def cancel_form(request: Request, caller: Caller, form: Form) -> Response:
    engine = context(request).engine
    run_id = request.path_params["run"]
    await run_in_threadpool(lambda: engine.cancel(run_id, caller.actor, reason=one(form, "reason")))
    return RedirectResponse(f"/runs/{segment(run_id)}?ok=cancel", 303)


@router.post("/runs/{run}/restock")
@page("restock", "POST")
async def restock_form(request: Request, caller: Caller, form: Form) -> Response:
    engine = context(request).engine
    run_id = request.path_params["run"]
    count = one(form, "count") or ""
    if not (count.isascii() and count.isdigit() and len(count) <= 6) or int(count) < 1:
        raise Invalid("count: a whole number of items, at least 1")
    site = (await run_in_threadpool(engine.board_site, run_id))["id"]
    drill = bool((await run_in_threadpool(engine.board, run_id))["run"]["drill"])  # a drill's page: its sandbox
    await run_in_threadpool(
        lambda: engine.restock(
            site,
            one(form, "pool") or "",
            caller.actor,
            from_site=one(form, "from_site"),
            count=int(count),
            reason=one(form, "reason"),
            drill=drill,
        )
    )
    return RedirectResponse(f"/runs/{segment(run_id)}?ok=restock", 303)


# --- login, language, static files -------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    lang = lang_of(request)
    return HTMLResponse(render_page("login.html", **login_context(request, lang, safe_next(next), None)))


@router.get("/lang")
def switch_language(to: str = "en", next: str = "/") -> RedirectResponse:
    response = RedirectResponse(safe_next(next), 303)
    if to in i18n.LANGS:
        response.set_cookie(i18n.COOKIE, to, max_age=365 * 86400, samesite="strict", path="/")
    return response


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC_TYPES:
        raise ApiError(404, "no such file")
    return Response(
        (STATIC / name).read_bytes(),
        media_type=STATIC_TYPES[name],
        headers={"Cache-Control": "public, max-age=300"},
    )
