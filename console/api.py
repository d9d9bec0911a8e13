"""API edge: HTTP requests → the Engine → JSON (DESIGN.md §6).

Every route names its policy row (console/auth.py: which roles may call it); who the caller
is comes from `Authorization: Bearer <token>` or the dashboard's session cookie, and a
session's state-changing request must carry its CSRF token (`X-CSRF-Token` header or `csrf`
form field). Every denial is in the audit (chain `access`). Errors have one shape,
`{"error": {"code", "message"}}`. A state-changing POST with an `Idempotency-Key` gets, when
repeated, the first answer and changes nothing."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import logging
import os
import re
import time
import urllib.parse
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Literal

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from flows.actors import Actor, ownership
from flows.errors import EngineError, Forbidden, Invalid, NotFound
from flows.lifecycle import Engine
from flows.store import utcnow
from runbooks.diagnostics import RunbookError

from . import auth, web
from .events import EventHub
from .metrics import CONTENT_TYPE as METRICS_TYPE
from .metrics import render_metrics
from .pages import render_page

log = logging.getLogger("runbook.api")
MAX_BODY = 1024 * 1024  # 1 MiB: a check-off is a few hundred bytes
STALE_KEY = timedelta(minutes=5)  # a reserved Idempotency-Key whose request never finished
COOKIE = auth.COOKIE
# Pages run /static/app.js and nothing else: no inline script or style, no other origin.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_ID = re.compile(r"^[A-Za-z0-9_.:\-@]{1,300}$")
STATUS_CODES = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "not_found",
    409: "conflict",
    413: "invalid",
    415: "invalid",
    422: "invalid",
    429: "rate_limited",
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": STATUS_CODES.get(status, "invalid"), "message": message}}, status, headers=headers
    )


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LockdownBody(Body):
    drill: bool = False


class StartBody(Body):
    runbook: str = Field(max_length=200)
    site: str = Field(max_length=200)
    inputs: dict[str, Any] = {}
    drill: bool = False


class ReasonBody(Body):
    reason: str | None = Field(None, max_length=2000)


class CompleteBody(Body):
    note: str | None = Field(None, max_length=4000)
    fields: dict[str, Any] = {}
    reason: str | None = Field(None, max_length=2000)


class ApproveBody(Body):
    note: str | None = Field(None, max_length=4000)
    reason: str | None = Field(None, max_length=2000)


class InterveneBody(Body):
    reason: str | None = Field(None, max_length=2000)
    to: str | None = Field(None, max_length=300)


class BulkBody(Body):
    tasks: list[str] = Field(min_length=1, max_length=1000)
    note: str | None = Field(None, max_length=4000)
    fields: dict[str, Any] = {}  # the same check-off fields for every task
    reason: str | None = Field(None, max_length=2000)


class AddBody(Body):
    title: str = Field(min_length=1, max_length=300)
    owner: str = Field(max_length=300)
    reason: str | None = Field(None, max_length=2000)
    due: str | None = Field(None, max_length=20)


class AnswerBody(Body):
    person: str = Field(max_length=64)
    option: str = Field(max_length=100)


class SmsBody(Body):
    model_config = ConfigDict(extra="ignore")  # gateways add their own fields
    from_: str = Field(alias="from", max_length=40)
    text: str = Field(max_length=1000)


class RestockBody(Body):
    from_site: str = Field(max_length=200)
    count: int = Field(ge=1, le=100000)
    reason: str | None = Field(None, max_length=2000)


class RequeueBody(Body):
    ids: list[str] = []
    reason: str | None = Field(None, max_length=2000)


class Caller:
    """Who is calling: their account, as an engine Actor, and how they came in."""

    def __init__(self, account: dict[str, Any], via: Literal["token", "session"], session=None):
        self.account, self.via, self.session = account, via, session
        self.actor: Actor = auth.actor_of(account)
        self.role: str = account["role"]


def _direct_loopback(request: Request) -> bool:
    """A caller on this machine that did not come through a proxy (which would set these)."""
    if any(h in request.headers for h in ("forwarded", "x-forwarded-for", "x-real-ip")):
        return False
    try:
        return request.client is not None and ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def create_app(store, runner=None, prefect_url: str | None = None) -> FastAPI:
    hub = EventHub(store)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        hub.close()

    app = FastAPI(title="Continuity runbook engine", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    engine = Engine(store)
    limiter = auth.LoginLimiter()
    # Refusals audited per client address and minute (a flood must not hold up the writer).
    denials = auth.DenialBudget(int(os.environ.get("RUNBOOK_DENIALS_PER_MINUTE") or 60))
    app.state.hub = hub

    # --- errors: one shape ----------------------------------------------------------------

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return error(exc.status, exc.message, exc.headers)

    @app.exception_handler(EngineError)
    async def _engine_error(request: Request, exc: EngineError):
        caller = getattr(request.state, "caller", None)
        if isinstance(exc, Forbidden) and caller is not None:
            await run_in_threadpool(
                auth.audit_denial,
                store,
                caller.actor.label,
                f"{request.method} {request.url.path}",
                exc.message,
                auth.client_of(request),
                denials,
            )
        return error(exc.status, exc.message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"error": {"code": "internal", "message": "unexpected error; it is in the server log"}}, 500
        )

    @app.exception_handler(RunbookError)
    async def _runbook_error(request: Request, exc: RunbookError):
        return error(422, "; ".join(f"{d.code}: {d.message}" for d in exc.diagnostics[:10]))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        problems = []
        for e in exc.errors()[:10]:
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            problems.append(f"{where or 'body'}: {e.get('msg')}")
        return error(422, "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        message = "no such route" if exc.status_code in (404, 405) else str(exc.detail)
        return error(exc.status_code, message)

    @app.middleware("http")
    async def _limits(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and (not length.isdigit() or int(length) > MAX_BODY):
            return error(413, f"request body over {MAX_BODY // 1024} KiB")
        if request.method == "POST" and not length and request.headers.get("transfer-encoding"):
            return error(413, "send a Content-Length (chunked bodies are not accepted)")
        started = time.perf_counter()
        response = await call_next(request)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    # --- who is calling -------------------------------------------------------------------

    async def _deny(request: Request, status: int, who: str, why: str) -> None:
        await run_in_threadpool(
            auth.audit_denial, store, who, f"{request.method} {request.url.path}", why, auth.client_of(request), denials
        )
        raise ApiError(status, why)

    async def authenticate(request: Request) -> Caller:
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            account = (
                await run_in_threadpool(auth.account_for_token, store, token.strip())
                if scheme.lower() == "bearer" and token.strip()
                else None
            )
            if account is None:
                await _deny(request, 401, "anonymous", "unknown or revoked token")
            return Caller(account, "token")
        cookie = request.cookies.get(COOKIE)
        if cookie:
            session = await run_in_threadpool(auth.session_for_cookie, store, cookie)
            if session is None:
                await _deny(request, 401, "anonymous", "no such session (expired, revoked or forged)")
            caller = Caller(session.account, "session", session)
            if request.method not in ("GET", "HEAD", "OPTIONS"):
                sent = request.headers.get("x-csrf-token") or getattr(request.state, "form_csrf", None)
                if not auth.csrf_ok(session, sent):
                    await _deny(request, 403, caller.actor.label, "missing or wrong CSRF token")
            return caller
        await _deny(request, 401, "anonymous", "no credentials: send Authorization: Bearer <token>")
        raise AssertionError("unreachable")

    def allowed(route: str) -> Callable[..., Any]:
        roles = auth.POLICY[route]

        async def check(request: Request, caller: Caller = Depends(authenticate)) -> Caller:
            request.state.caller = caller
            if caller.role not in roles:
                await _deny(request, 403, caller.actor.label, f"a {caller.role} account cannot do this ({route})")
            return caller

        return check

    def idempotent(caller: Caller, key: str | None, request: dict[str, Any], act: Callable[[], Any]) -> Any:
        """Generic Idempotency-Key for routes whose engine call has none of its own."""
        if not key:
            return act()
        if len(key) > 200:
            raise Invalid("Idempotency-Key is at most 200 characters")
        full = f"api:{caller.account['id']}:{key}"
        fingerprint = hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
        now = utcnow()
        with store.transaction() as tx:  # reserve the key first: a concurrent repeat cannot act too
            claimed = tx.claim_idempotent(full, fingerprint, now)
            seen = None if claimed else tx.idempotent(full)
            if seen is not None and seen["response"] == {"_pending": True} and now - seen["at"] > STALE_KEY:
                tx.drop_idempotent(full)  # its request died mid-way: let this one act
                claimed, seen = tx.claim_idempotent(full, fingerprint, now), None
        if not claimed:
            if seen is None or seen["fingerprint"] != fingerprint:
                raise ApiError(409, "this Idempotency-Key was used for a different request")
            if seen["response"] == {"_pending": True}:
                raise ApiError(409, "a request with this Idempotency-Key is in progress; retry in a moment")
            return seen["response"]
        try:
            result = act()
        except BaseException:
            with store.transaction() as tx:
                tx.drop_idempotent(full)  # nothing was done: the key is free for a retry
            raise
        with store.transaction() as tx:
            tx.settle_idempotent(full, result)
        return result

    def ident(value: str, what: str) -> str:
        if not _ID.match(value) or ".." in value:
            raise NotFound(f"no {what} {value!r}")
        return value

    def visible(caller: Caller, data: Any) -> Any:
        return auth.redact(data, caller.role)

    # --- routes -------------------------------------------------------------------------------

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        with store.read() as r:
            r.runs(states=["running"])  # the store answers
        return {
            "status": "ok",
            "store": store.dialect,
            "runner": runner is not None,
            "runs_owned": len(runner.owned) if runner else 0,
            "prefect_api": prefect_url,
        }

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        # Counts only, no personal data: a scraper on the same machine needs no token; through
        # a proxy (even a local one) or from elsewhere, a reading account's token is required;
        # credentials presented are always checked.
        presented = "authorization" in request.headers or COOKIE in request.cookies
        if presented or not _direct_loopback(request):
            await allowed("metrics")(request, await authenticate(request))
        text = await run_in_threadpool(render_metrics, store, runner)
        return Response(text, media_type=METRICS_TYPE)

    @app.get("/api/me")
    def me(caller: Caller = Depends(allowed("me"))) -> dict[str, Any]:
        return {
            "name": caller.account["name"],
            "role": caller.role,
            "staff": caller.account["staff_id"],
            "teams": ["/".join(t) for t in caller.account["teams"]],
            "via": caller.via,
            **({"csrf": caller.session.csrf} if caller.session else {}),
        }

    @app.get("/api/openapi.json")
    def openapi(caller: Caller = Depends(allowed("openapi"))) -> dict[str, Any]:
        return app.openapi()

    @app.post("/api/sites/{site}/lockdown")
    def lockdown(site: str, body: LockdownBody = LockdownBody(), caller: Caller = Depends(allowed("lockdown"))):
        runs, created = engine.lockdown(ident(site, "site"), caller.actor, drill=body.drill)
        return JSONResponse({"runs": runs}, 201 if created else 200)

    @app.post("/api/sites/{site}/standdown", status_code=201)
    def standdown(
        site: str, caller: Caller = Depends(allowed("standdown")), idempotency_key: str | None = Header(None)
    ):
        return idempotent(
            caller,
            idempotency_key,
            {"op": "standdown", "site": site},
            lambda: {"runs": engine.standdown(ident(site, "site"), caller.actor)},
        )

    @app.post("/api/runs", status_code=201)
    def start_run(
        body: StartBody, caller: Caller = Depends(allowed("start_run")), idempotency_key: str | None = Header(None)
    ):
        if "/" in body.runbook or "/" in body.site or body.runbook.startswith(".") or body.site.startswith("."):
            raise Invalid("runbook and site are ids from the library, never paths")
        return idempotent(
            caller,
            idempotency_key,
            {"op": "start", **body.model_dump()},
            lambda: engine.start(
                body.runbook, body.site, caller.actor, inputs=body.inputs, drill=body.drill, allow_path=False
            ),
        )

    @app.get("/api/runs")
    def runs(caller: Caller = Depends(allowed("runs"))):
        return {"runs": engine.runs()}

    @app.get("/api/runs/{run}")
    def run(run: str, caller: Caller = Depends(allowed("run"))):
        return engine.run(ident(run, "run"))

    @app.post("/api/runs/{run}/cancel")
    def cancel(
        run: str,
        body: ReasonBody,
        caller: Caller = Depends(allowed("cancel")),
        idempotency_key: str | None = Header(None),
    ):
        return idempotent(
            caller,
            idempotency_key,
            {"op": "cancel", "run": run, **body.model_dump()},
            lambda: engine.cancel(ident(run, "run"), caller.actor, reason=body.reason),
        )

    @app.get("/api/runs/{run}/tasks")
    def tasks(
        run: str,
        team: str | None = None,
        state: str | None = None,
        step: str | None = None,
        mine: bool = False,
        caller: Caller = Depends(allowed("tasks")),
    ):
        rows = engine.tasks(ident(run, "run"), team=team, state=state, step=step)
        if mine:
            site = engine.run(run)["site"]
            rows = [t for t in rows if ownership(caller.actor, t["owner"], site) == "own"]
        return {"tasks": visible(caller, rows)}

    @app.post("/api/runs/{run}/tasks", status_code=201)
    def add_task(
        run: str,
        body: AddBody,
        caller: Caller = Depends(allowed("add_task")),
        idempotency_key: str | None = Header(None),
    ):
        return idempotent(
            caller,
            idempotency_key,
            {"op": "add", "run": run, **body.model_dump()},
            lambda: engine.add(
                ident(run, "run"), caller.actor, reason=body.reason, title=body.title, owner=body.owner, due=body.due
            ),
        )

    @app.post("/api/runs/{run}/tasks:complete")
    def complete_bulk(
        run: str,
        body: BulkBody,
        caller: Caller = Depends(allowed("complete_bulk")),
        idempotency_key: str | None = Header(None),
    ):
        results = []
        for task in body.tasks:
            key = f"{idempotency_key}:{task}" if idempotency_key else None
            try:
                done = engine.complete(
                    ident(run, "run"),
                    ident(task, "task"),
                    caller.actor,
                    note=body.note,
                    fields=body.fields,
                    reason=body.reason,
                    key=key,
                )
                results.append({"task": task, "status": 200, "result": visible(caller, done)})
            except EngineError as e:
                if isinstance(e, Forbidden):
                    auth.audit_denial(store, caller.actor.label, f"complete {run}/{task}", e.message, "-", denials)
                results.append({"task": task, "status": e.status, "error": {"code": e.code, "message": e.message}})
        return {"results": results}

    @app.post("/api/runs/{run}/tasks/{task}/complete")
    def complete(
        run: str,
        task: str,
        body: CompleteBody = CompleteBody(),
        caller: Caller = Depends(allowed("complete")),
        idempotency_key: str | None = Header(None),
    ):
        return visible(
            caller,
            engine.complete(
                ident(run, "run"),
                ident(task, "task"),
                caller.actor,
                note=body.note,
                fields=body.fields,
                reason=body.reason,
                key=idempotency_key,
            ),
        )

    @app.post("/api/runs/{run}/tasks/{task}/approve")
    def approve(
        run: str,
        task: str,
        body: ApproveBody = ApproveBody(),
        caller: Caller = Depends(allowed("approve")),
        idempotency_key: str | None = Header(None),
    ):
        return visible(
            caller,
            engine.approve(
                ident(run, "run"),
                ident(task, "task"),
                caller.actor,
                note=body.note,
                reason=body.reason,
                key=idempotency_key,
            ),
        )

    @app.post("/api/runs/{run}/tasks/{task}/reject")
    def reject(
        run: str,
        task: str,
        body: ReasonBody,
        caller: Caller = Depends(allowed("reject")),
        idempotency_key: str | None = Header(None),
    ):
        return visible(
            caller,
            engine.reject(
                ident(run, "run"), ident(task, "task"), caller.actor, reason=body.reason, key=idempotency_key
            ),
        )

    def intervention(name: str) -> None:
        def act(
            run: str,
            task: str,
            body: InterveneBody,
            caller: Caller = Depends(allowed(name)),
            idempotency_key: str | None = Header(None),
        ):
            def call():
                method = getattr(engine, name)
                extra = {"to": body.to} if name == "reassign" else {}
                return method(ident(run, "run"), ident(task, "task"), caller.actor, reason=body.reason, **extra)

            return idempotent(
                caller, idempotency_key, {"op": name, "run": run, "task": task, **body.model_dump()}, call
            )

        app.post(f"/api/runs/{{run}}/tasks/{{task}}/{name}", name=name)(act)

    for name in ("skip", "retry", "reassign"):
        intervention(name)

    @app.get("/api/runs/{run}/audit")
    def audit(run: str, caller: Caller = Depends(allowed("audit"))):
        return visible(caller, engine.audit(ident(run, "run")))

    @app.get("/api/runs/{run}/events")
    async def events(
        run: str,
        request: Request,
        after: int = 0,
        caller: Caller = Depends(allowed("events")),
        last_event_id: str | None = Header(None),
    ):
        await run_in_threadpool(engine.run, ident(run, "run"))  # 404 for an unknown run
        start = int(last_event_id) if last_event_id and last_event_id.isdigit() else after
        return StreamingResponse(
            hub.stream(run, start), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
        )

    # --- the dashboard's data (each page's JSON twin) ----------------------------------------

    @app.get("/api/overview")
    def overview(caller: Caller = Depends(allowed("overview"))):
        return visible(caller, engine.overview())

    @app.get("/api/runs/{run}/board")
    def board(run: str, caller: Caller = Depends(allowed("board"))):
        return visible(caller, engine.board(ident(run, "run")))

    @app.get("/api/my/tasks")
    def my_tasks(caller: Caller = Depends(allowed("my_tasks"))):
        return visible(caller, engine.my_tasks(caller.actor))

    @app.get("/api/runs/{run}/tasks/{task}")
    def task(run: str, task: str, caller: Caller = Depends(allowed("task"))):
        return visible(caller, engine.task_page(ident(run, "run"), ident(task, "task"), caller.actor))

    @app.get("/api/runs/{run}/muster/{step}/calls")
    def calls(run: str, step: str, caller: Caller = Depends(allowed("calls"))):
        return engine.call_list(ident(run, "run"), ident(step, "step"))

    # --- roll calls ---------------------------------------------------------------------------

    @app.get("/api/runs/{run}/muster/{step}/links")
    def muster_links(run: str, step: str, caller: Caller = Depends(allowed("muster_links"))):
        return engine.muster_links(ident(run, "run"), ident(step, "step"), caller.actor)

    @app.post("/api/runs/{run}/muster/{step}/answers")
    def muster_answer(run: str, step: str, body: AnswerBody, caller: Caller = Depends(allowed("muster_answer"))):
        return engine.answer(
            ident(run, "run"), ident(step, "step"), ident(body.person, "person"), body.option, caller.actor, via="lead"
        )

    @app.post("/api/inbound/sms")
    def inbound_sms(body: SmsBody, caller: Caller = Depends(allowed("inbound_sms"))):
        return engine.answer_sms(body.from_, body.text, caller.actor)

    @app.get("/r/{token}", response_class=HTMLResponse)
    def answer_page(token: str, request: Request):
        page = engine.answer_page(token)
        if page is None:
            return HTMLResponse(render_page("gone.html"), 404)
        return HTMLResponse(render_page("answer.html", **page))

    @app.post("/r/{token}", response_class=HTMLResponse)
    async def answer_post(token: str, request: Request):
        client = auth.client_of(request)
        if limiter.retry_after(client):
            return HTMLResponse(render_page("gone.html", busy=True), 429)
        form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=5)
        option = (form.get("option") or [""])[0]
        try:
            await run_in_threadpool(engine.answer_link, token, option)
        except NotFound:
            limiter.failed(client)  # guessing tokens is throttled like guessing logins
            return HTMLResponse(render_page("gone.html"), 404)
        except EngineError as e:
            page = engine.answer_page(token)
            if page is None:
                return HTMLResponse(render_page("gone.html"), 410)
            return HTMLResponse(render_page("answer.html", **page, error=e.message), e.status)
        page = engine.answer_page(token)
        return HTMLResponse(render_page("answer.html", **(page or {}), thanks=True))

    @app.post("/api/sites/{site}/pools/{pool}/restock")
    def restock(
        site: str,
        pool: str,
        body: RestockBody,
        caller: Caller = Depends(allowed("restock")),
        idempotency_key: str | None = Header(None),
    ):
        return idempotent(
            caller,
            idempotency_key,
            {"op": "restock", "site": site, "pool": pool, **body.model_dump()},
            lambda: engine.restock(
                ident(site, "site"),
                ident(pool, "pool"),
                caller.actor,
                from_site=ident(body.from_site, "site"),
                count=body.count,
                reason=body.reason,
            ),
        )

    @app.get("/api/outbox")
    def outbox(state: str | None = None, run: str | None = None, caller: Caller = Depends(allowed("outbox"))):
        return engine.outbox(states=[state] if state else None, run_id=run)

    @app.post("/api/outbox/retry")
    def outbox_retry(body: RequeueBody, caller: Caller = Depends(allowed("outbox_retry"))):
        return {"requeued": engine.requeue(caller.actor, keys=body.ids or None, reason=body.reason)}

    # --- dashboard login: a token → a session cookie ----------------------------------------

    @app.post("/login")
    async def login(request: Request):
        client = auth.client_of(request)
        wait = limiter.retry_after(client)
        if wait:
            await _deny(request, 429, "anonymous", "too many failed logins; wait and try again")
        token, next_page = await _token_from(request)
        account = await run_in_threadpool(auth.account_for_token, store, token) if token else None
        if account is None or account["role"] == "gateway":
            limiter.failed(client)
            await _deny(request, 401, "anonymous", "unknown or revoked token")
        cookie, csrf = await run_in_threadpool(auth.login, store, account)
        secure = request.url.scheme == "https"
        response = (
            JSONResponse({"name": account["name"], "role": account["role"], "csrf": csrf})
            if "json" in request.headers.get("content-type", "")
            else RedirectResponse(web.safe_next(next_page), 303)
        )
        response.set_cookie(COOKIE, cookie, httponly=True, samesite="strict", secure=secure, path="/")
        return response

    @app.post("/logout")
    async def logout(request: Request):
        form = "json" not in request.headers.get("content-type", "")
        if form:  # the dashboard's sign-out button: its CSRF token is a form field
            request.state.form_csrf = web.one(await web.read_form(request), "csrf")
        await authenticate(request)
        cookie = request.cookies.get(COOKIE)
        if cookie:
            await run_in_threadpool(auth.logout, store, cookie)
        response = RedirectResponse("/login", 303) if form else JSONResponse({"ok": True})
        response.delete_cookie(COOKIE, path="/")
        return response

    web.install(app, engine=engine, authenticate=authenticate, deny=_deny, api_error=ApiError, denials=denials)
    return app


async def _token_from(request: Request) -> tuple[str | None, str | None]:
    if "json" in request.headers.get("content-type", ""):
        try:
            data = await request.json()
        except ValueError:
            raise ApiError(422, "body is not JSON") from None
        token = data.get("token") if isinstance(data, dict) else None
        next_page = None
    else:  # an HTML form (application/x-www-form-urlencoded)
        form = urllib.parse.parse_qs((await request.body()).decode("utf-8", "replace"), max_num_fields=10)
        token = (form.get("token") or [None])[0]
        next_page = (form.get("next") or [None])[0]
    return (token.strip() if isinstance(token, str) and token.strip() else None), next_page
