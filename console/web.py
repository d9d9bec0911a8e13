"""Dashboard edge: server-rendered pages (jinja2, autoescaped) over the Engine's board data —
the same dicts the API's JSON twins return (`/api/overview`, `/api/runs/{run}/board`,
`/api/my/tasks`, `/api/runs/{run}/tasks/{task}`, `/api/runs/{run}/audit`,
`/api/runs/{run}/muster/{step}/calls`).

Who may see a page is the API's policy row of its twin; forms post with the session's CSRF
token (a `csrf` field) and, for check-offs, a one-time key so a double click acts once. Pages
are read-only for viewers; a lead acts on their teams' tasks; a manager intervenes with a
reason. The only script is /static/app.js (live updates over SSE); the Content-Security-
Policy allows nothing else."""

from __future__ import annotations

import logging
import secrets
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from flows.errors import EngineError, Invalid
from flows.lifecycle import Engine

from . import auth, charts, i18n
from .pages import render_page

log = logging.getLogger("runbook.web")
STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "answer.css": "text/css; charset=utf-8",
}
FEED_BACKLOG = 30  # events the run page's live feed shows from before it was opened
MAX_FORM_FIELDS = 2100  # a bulk check-off of up to 1,000 tasks, its fields and note


def safe_next(value: str | None) -> str:
    """Where to go after a login or a language switch: a path on this server, never elsewhere."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def fmt_value(objective: dict[str, Any], value: float) -> str:
    return f"{value:.0%}" if objective.get("measure") == "ratio" else f"{value:g}"


async def read_form(request: Request) -> dict[str, list[str]]:
    body = (await request.body()).decode("utf-8", "replace")
    try:
        return urllib.parse.parse_qs(body, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise Invalid(f"a form has at most {MAX_FORM_FIELDS} fields") from None


def one(form: dict[str, list[str]], name: str) -> str | None:
    value = (form.get(name) or [""])[0].strip()
    return value or None


def fields_of(form: dict[str, list[str]]) -> dict[str, str]:
    return {k[2:]: v[0].strip() for k, v in form.items() if k.startswith("f.") and v and v[0].strip()}


def install(
    app: FastAPI,
    *,
    engine: Engine,
    authenticate: Callable[[Request], Awaitable[Any]],
    deny: Callable[..., Awaitable[None]],
    api_error: type[Exception],
    denials: auth.DenialBudget,
) -> None:
    """Add the dashboard's routes to the API app (same sessions, same policy, same audit)."""

    def lang_of(request: Request) -> str:
        return i18n.pick(None, request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))

    def render(request: Request, caller, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        lang = lang_of(request)
        context.setdefault("flash", None)
        query = request.url.query
        page = render_page(
            template,
            lang=lang,
            _=i18n.translator(lang),
            me=caller.account,
            csrf=_csrf(caller),
            here=request.url.path + (f"?{query}" if query else ""),
            local=i18n.local_time,
            dur=i18n.duration,
            fmt_value=fmt_value,
            title=context.pop("title", ""),
            **context,
        )
        return HTMLResponse(page, status)

    async def who(request: Request, route: str):
        """The caller, or a redirect to the login page; a refusal is audited like the API's."""
        if not request.headers.get("authorization") and not request.cookies.get(auth.COOKIE):
            return None
        try:
            caller = await authenticate(request)
        except api_error as e:
            if getattr(e, "status", None) == 401:
                return None
            raise
        request.state.caller = caller
        if caller.role not in auth.POLICY[route]:
            await deny(request, 403, caller.actor.label, f"a {caller.role} account cannot do this ({route})")
        return caller

    def to_login(request: Request) -> RedirectResponse:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?next=" + urllib.parse.quote(here, safe=""), 303)

    def page(route: str | Callable[[dict[str, list[str]]], str], method: str = "GET"):
        """A page (or a form's POST) behind the policy row `route` (for a form, possibly named by
        the form: the task page's action), with errors as pages."""

        def wrap(handler):
            async def endpoint(request: Request):
                form: dict[str, list[str]] = {}  # read for a POST only; a GET's route is a name
                if method == "POST":
                    try:
                        form = await read_form(request)
                    except EngineError as e:
                        return error_page(request, None, e.status, e.message)
                    request.state.form_csrf = one(form, "csrf")
                try:
                    caller = await who(request, route(form) if callable(route) else route)
                    if caller is None:
                        return to_login(request)
                    request.state.caller = caller
                    return await handler(request, caller, form) if method == "POST" else await handler(request, caller)
                except (api_error, EngineError) as e:  # both carry a status and a message
                    status, message = getattr(e, "status", 500), getattr(e, "message", str(e))
                    return error_page(request, getattr(request.state, "caller", None), status, message)

            endpoint.__name__ = f"page_{getattr(route, '__name__', route)}_{method.lower()}"
            return endpoint

        return wrap

    def error_page(request: Request, caller, status: int, message: str) -> HTMLResponse:
        if caller is None:
            lang = lang_of(request)
            return HTMLResponse(
                render_page("login.html", lang=lang, _=i18n.translator(lang), next="/", error=message), status
            )
        return render(request, caller, "error.html", status, title=str(status), message=message)

    def redact(caller, data):
        return auth.redact(data, caller.role)

    # --- pages ----------------------------------------------------------------------------------

    @page("overview")
    async def overview(request: Request, caller):
        data = redact(caller, await run_in_threadpool(engine.overview))
        runs = [
            _live(run["id"], run["last_event"])
            for site in data["sites"]
            for run in site["runs"]
            if run["state"] == "running"
        ]
        return render(
            request,
            caller,
            "overview.html",
            title=i18n.translator(lang_of(request))("Sites"),
            data=data,
            live_runs=runs,
            flash=None,
        )

    @page("board")
    async def run_page(request: Request, caller):
        run_id = request.path_params["run"]
        data = redact(caller, await run_in_threadpool(engine.board, run_id))
        pools = []
        if caller.role == "manager" and data["blocked"]["count"]:
            pools = sorted((await run_in_threadpool(engine.pools, data["site"]["id"]))["pools"])
        return render(
            request,
            caller,
            "run.html",
            title=data["run"]["name"],
            data=data,
            live_runs=[_live(run_id, data["last_event"] - FEED_BACKLOG)],
            charts={o["id"]: charts.burnup(o) for o in data["objectives"]},
            graph=charts.graph(data["graph"]),
            pools=pools,
            flash=_flash(request),
        )

    @page("task")
    async def task_page(request: Request, caller):
        run_id, task_id = request.path_params["run"], request.path_params["task"]
        data = redact(caller, await run_in_threadpool(engine.task_page, run_id, task_id, caller.actor))
        return render(
            request,
            caller,
            "task.html",
            title=data["task"]["title"],
            data=data,
            live_runs=[_live(run_id, data["run"]["last_event"])],
            idem=secrets.token_urlsafe(12),
            flash=_flash(request),
        )

    @page("my_tasks")
    async def my_page(request: Request, caller):
        data = redact(caller, await run_in_threadpool(engine.my_tasks, caller.actor))
        return render(
            request,
            caller,
            "my.html",
            title=i18n.translator(lang_of(request))("My tasks"),
            data=data,
            live_runs=[_live(r["run"], r["last_event"]) for r in data["runs"]],
            idem=secrets.token_urlsafe(12),
            flash=_flash(request),
        )

    @page("audit")
    async def audit_page(request: Request, caller):
        run_id = request.path_params["run"]
        data = redact(caller, await run_in_threadpool(engine.audit, run_id))
        tz = (await run_in_threadpool(engine.board_site, run_id))["timezone"]
        return render(request, caller, "audit.html", title="Audit", data=data, tz=tz, flash=None)

    @page("calls")
    async def calls_page(request: Request, caller):
        data = await run_in_threadpool(engine.call_list, request.path_params["run"], request.path_params["step"])
        return render(request, caller, "calls.html", title="Call list", data=data, flash=None)

    app.get("/", response_class=HTMLResponse, include_in_schema=False)(overview)
    app.get("/runs/{run}", response_class=HTMLResponse, include_in_schema=False)(run_page)
    app.get("/runs/{run}/tasks/{task}", response_class=HTMLResponse, include_in_schema=False)(task_page)
    app.get("/my", response_class=HTMLResponse, include_in_schema=False)(my_page)
    app.get("/runs/{run}/audit", response_class=HTMLResponse, include_in_schema=False)(audit_page)
    app.get("/runs/{run}/muster/{step}/calls", response_class=HTMLResponse, include_in_schema=False)(calls_page)

    # --- forms ----------------------------------------------------------------------------------

    ACTIONS = ("complete", "approve", "reject", "skip", "retry", "reassign")  # each its own policy row

    def task_action(form: dict[str, list[str]]) -> str:
        action = one(form, "action") or ""
        if action not in ACTIONS:
            raise Invalid(f'unknown action "{action[:40]}"')
        return action

    async def refused(request: Request, caller, what: str, e: EngineError) -> None:
        """The engine's refusals (not your team's task) are audited like the policy's."""
        if e.status == 403:
            await run_in_threadpool(
                auth.audit_denial, engine.store, caller.actor.label, what, e.message, auth.client_of(request), denials
            )

    @page(task_action, "POST")
    async def task_form(request: Request, caller, form):
        action = task_action(form)
        run_id, task_id = request.path_params["run"], request.path_params["task"]
        note, reason, idem = one(form, "note"), one(form, "reason"), one(form, "idem")
        key = f"web:{caller.account['id']}:{idem}" if idem else None
        a = caller.actor
        calls = {
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
            data = redact(caller, await run_in_threadpool(engine.task_page, run_id, task_id, a))
            return render(
                request,
                caller,
                "task.html",
                e.status,
                title=data["task"]["title"],
                data=data,
                live_runs=[_live(run_id, data["run"]["last_event"])],
                idem=secrets.token_urlsafe(12),
                flash=e.message,
                flash_kind="err",
            )
        return RedirectResponse(f"/runs/{_q(run_id)}/tasks/{_q(task_id)}?ok={action}", 303)

    @page("complete_bulk", "POST")
    async def bulk_form(request: Request, caller, form):
        run_id, action = one(form, "run") or "", one(form, "action") or "complete"
        tasks = [t for t in form.get("task", []) if t]
        if action not in ("complete", "approve") or not tasks:
            raise Invalid("choose one or more tasks to check off")
        idem, note = one(form, "idem"), one(form, "note")
        values = fields_of(form)
        ok, failed, first = 0, 0, None
        for task_id in tasks:
            key = f"web:{caller.account['id']}:{idem}:{task_id}" if idem else None
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

    @page("cancel", "POST")
    async def cancel_form(request: Request, caller, form):
        run_id = request.path_params["run"]
        await run_in_threadpool(lambda: engine.cancel(run_id, caller.actor, reason=one(form, "reason")))
        return RedirectResponse(f"/runs/{_q(run_id)}?ok=cancel", 303)

    @page("restock", "POST")
    async def restock_form(request: Request, caller, form):
        run_id = request.path_params["run"]
        count = one(form, "count") or ""
        if not (count.isascii() and count.isdigit() and len(count) <= 6) or int(count) < 1:
            raise Invalid("count: a whole number of items, at least 1")
        site = (await run_in_threadpool(engine.board_site, run_id))["id"]
        await run_in_threadpool(
            lambda: engine.restock(
                site,
                one(form, "pool") or "",
                caller.actor,
                from_site=one(form, "from_site"),
                count=int(count),
                reason=one(form, "reason"),
            )
        )
        return RedirectResponse(f"/runs/{_q(run_id)}?ok=restock", 303)

    app.post("/runs/{run}/tasks/{task}", include_in_schema=False)(task_form)
    app.post("/my", include_in_schema=False)(bulk_form)
    app.post("/runs/{run}/cancel", include_in_schema=False)(cancel_form)
    app.post("/runs/{run}/restock", include_in_schema=False)(restock_form)

    # --- login, language, static files ----------------------------------------------------------

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request, next: str = "/"):
        lang = lang_of(request)
        return HTMLResponse(
            render_page("login.html", lang=lang, _=i18n.translator(lang), next=safe_next(next), error=None)
        )

    @app.get("/lang", include_in_schema=False)
    def switch_language(to: str = "en", next: str = "/"):
        response = RedirectResponse(safe_next(next), 303)
        if to in i18n.LANGS:
            response.set_cookie(i18n.COOKIE, to, max_age=365 * 86400, samesite="strict", path="/")
        return response

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str):
        if name not in STATIC_TYPES:
            raise api_error(404, "no such file")
        return Response(
            (STATIC / name).read_bytes(),
            media_type=STATIC_TYPES[name],
            headers={"Cache-Control": "public, max-age=300"},
        )


def _q(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def _live(run_id: str, after: int) -> str:
    """A run the page follows over SSE, from which event on: `run:seq`."""
    return f"{run_id}:{max(after, 0)}"


def _csrf(caller) -> str:
    return caller.session.csrf if caller.session is not None else ""


def _flash(request: Request) -> str | None:
    q = request.query_params
    if "ok" in q and q.get("ok", "").isdigit():
        text = f"{q['ok']} ✓"
        if q.get("failed", "0").isdigit() and q.get("failed", "0") != "0":
            text += f" · {q['failed']} ✗ (see each task)"
        return text
    return "✓" if "ok" in q else None
