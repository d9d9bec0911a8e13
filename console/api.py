"""API edge: the FastAPI app, composed (docs/api.md) — middleware (body limits, CSP and
Server-Timing headers), the one error mapping (console/errors.py), and one router per
resource (console/routes/). The app's context (engine, store, event hub, settings) is on
`app.state` (console/deps.py), never in closures.

Every route names its policy row (console/auth.py POLICY); who the caller is comes from
`Authorization: Bearer <token>` or the dashboard's session cookie, and a session's
state-changing request must carry its CSRF token (`X-CSRF-Token` header or `csrf` form field).
Every denial is in the audit (chain `access`). Errors have one shape,
`{"error": {"code", "message"}}`. A state-changing POST with an `Idempotency-Key` gets, when
repeated, the first answer and changes nothing (the engine keeps it: flows/idempotency.py)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from flows.errors import Forbidden
from flows.forecaster import Forecaster
from flows.lifecycle import Engine
from flows.store import Store
from notifications.redact import redact_links

from .deps import AppContext, audit_refusal, install_context
from .errors import KNOWN, UNEXPECTED, error_response, json_response, problem_of
from .events import EventHub
from .inputs import refusal
from .oidc import OidcClient, OidcSettings
from .routes import (
    accounts,
    board,
    checkins,
    coverage,
    events,
    exports,
    grants,
    library,
    loans,
    manager_pages,
    oidc,
    pages,
    people,
    reports,
    roll_call,
    roll_call_pages,
    runs,
    shifts,
    sites,
    tasks,
)
from .schemas import ERRORS

log = logging.getLogger("runbook.api")
MAX_BODY = 1024 * 1024  # 1 MiB: a check-off is a few hundred bytes
# Pages run /static/app.js and nothing else: no inline script or style, no other origin.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
ROUTERS = (
    events,
    accounts,
    oidc,
    sites,
    coverage,
    grants,
    runs,
    tasks,
    library,
    board,
    roll_call,
    shifts,
    loans,
    pages,
    manager_pages,
    roll_call_pages,
    checkins,
    people,
    exports,
    reports,
)


def create_app(store: Store, runner: Any = None, prefect_url: str | None = None, forecasts: bool = True) -> FastAPI:
    """The app; while it serves (its lifespan), a forecaster (flows/forecaster.py) keeps the
    running runs' forecasts current in the background unless `forecasts` is False: every serving
    process runs one, and they share the work through the store."""
    hub = EventHub(store)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        forecaster = Forecaster(store).start() if forecasts else None
        try:
            yield
        finally:
            if forecaster is not None:
                forecaster.stop()
            hub.close()

    app = FastAPI(
        title="Continuity runbook engine",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
        responses=ERRORS,  # every route may answer these, in the one error shape
    )
    settings = OidcSettings.from_env()  # RunbookError (RB570–RB574) for a bad setting or map
    oidc = OidcClient(settings) if settings is not None else None
    install_context(app, AppContext(store, Engine(store), hub, runner, prefect_url, oidc=oidc))
    for exc_class in KNOWN:
        app.add_exception_handler(exc_class, handle_error)
    app.add_exception_handler(Exception, handle_unexpected)
    app.middleware("http")(limits)
    for module in ROUTERS:
        app.include_router(module.router)
    return app


async def handle_error(request: Request, exc: Exception) -> JSONResponse:
    problem = problem_of(exc)
    if problem is None:
        return await handle_unexpected(request, exc)
    caller = getattr(request.state, "caller", None)
    if isinstance(exc, Forbidden) and caller is not None:  # the engine's refusals are audited too
        await audit_refusal(request, caller.actor.label, exc.message)
    return json_response(problem)


async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, redact_links(request.url.path))
    return json_response(UNEXPECTED)


async def limits(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    length = request.headers.get("content-length")
    if length and (not length.isdigit() or int(length) > MAX_BODY):
        return error_response(413, f"request body over {MAX_BODY // 1024} KiB")
    if request.method == "POST" and not length and request.headers.get("transfer-encoding"):
        return error_response(413, "send a Content-Length (chunked bodies are not accepted)")
    refused = await refusal(request)
    if refused is not None:
        return refused
    started = time.perf_counter()
    response = await call_next(request)
    response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on our own forms,
    # and /login refuses a foreign (or null) origin; other sites still get no Referer from us.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response
