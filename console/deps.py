"""API edge: what every route depends on, declared once (docs/api.md) — the app's context
(engine, store, event hub, settings) kept on `app.state`; the caller, from
`Authorization: Bearer <token>` or the dashboard's session cookie, with the CSRF check of a
session's state-changing request; the route's policy row (console/auth.py POLICY); the
request's Idempotency-Key. Every refusal is in the audit (chain `access`)."""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NoReturn

from fastapi import Depends, FastAPI, Header, Request
from starlette.concurrency import run_in_threadpool

from flows.actors import Actor
from flows.errors import NotFound
from flows.lifecycle import Engine
from flows.store import Store

from . import auth, oidc_accounts
from .errors import ApiError
from .events import EventHub
from .oidc import OidcClient

_ID = re.compile(r"^[A-Za-z0-9_.:\-@]{1,300}$")


@dataclass
class AppContext:
    """What the routes share, one per app: built by `create_app`, read through `context`."""

    store: Store
    engine: Engine
    hub: EventHub
    runner: Any = None  # flows.runner.Runner when this process runs automated work
    prefect_url: str | None = None
    oidc: OidcClient | None = None  # sign-in through the identity provider, when configured
    limiter: auth.LoginLimiter = field(default_factory=auth.LoginLimiter)
    # Guessed roll-call links count apart: failed logins never lock staff out of their link.
    link_limiter: auth.LoginLimiter = field(default_factory=lambda: auth.LoginLimiter(failures=30))
    # Sign-ins started through the identity provider, per client address and minute (each one
    # writes its state to the store); generous, since a whole floor may sit behind one address.
    oidc_starts: auth.LoginLimiter = field(default_factory=lambda: auth.LoginLimiter(failures=120, window=60.0))
    # Refusals audited per client address and minute (a flood must not hold up the writer).
    denials: auth.DenialBudget = field(
        default_factory=lambda: auth.DenialBudget(int(os.environ.get("RUNBOOK_DENIALS_PER_MINUTE") or 60))
    )


def install_context(app: FastAPI, context: AppContext) -> None:
    app.state.context = context
    app.state.hub = context.hub


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.context
    return ctx


Context = Annotated[AppContext, Depends(context)]


class Caller:
    """Who is calling: their account, as an engine Actor, and how they came in."""

    def __init__(self, account: dict[str, Any], via: Literal["token", "session"], session: auth.Session | None = None):
        self.account, self.via, self.session = account, via, session
        self.actor: Actor = auth.actor_of(account)
        self.role: str = account["role"]


# --- refusals ----------------------------------------------------------------------------------


async def audit_refusal(request: Request, who: str, why: str, what: str | None = None) -> None:
    """A refusal into the audit (bounded per client by the context's DenialBudget)."""
    ctx = context(request)
    target = what or f"{request.method} {request.url.path}"
    await run_in_threadpool(auth.audit_denial, ctx.store, who, target, why, auth.client_of(request), ctx.denials)


async def deny(request: Request, status: int, who: str, why: str) -> NoReturn:
    await audit_refusal(request, who, why)
    raise ApiError(status, why)


# --- who is calling ----------------------------------------------------------------------------


def session_now(ctx: AppContext, cookie: str) -> auth.Session | None:
    """A cookie's session, with its rights as the identity provider says now when it signed in
    there (re-checked every `RUNBOOK_OIDC_RECHECK` seconds: console/oidc_accounts.py)."""
    session = auth.session_for_cookie(ctx.store, cookie)
    if session is not None and ctx.oidc is not None:
        session = oidc_accounts.recheck(ctx.store, ctx.oidc, session)
    return session


async def authenticate(request: Request) -> Caller:
    store = context(request).store
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        account = (
            await run_in_threadpool(auth.account_for_token, store, token.strip())
            if scheme.lower() == "bearer" and token.strip()
            else None
        )
        if account is None:
            # Failed tokens count like failed logins; a valid token always passes, so people
            # behind the same address as a guesser are not locked out.
            limiter, client = context(request).limiter, auth.client_of(request)
            if limiter.retry_after(client):
                await deny(request, 429, "anonymous", "too many failed logins or tokens; wait and try again")
            limiter.failed(client)
            await deny(request, 401, "anonymous", "unknown or revoked token")
        return Caller(account, "token")
    cookie = request.cookies.get(auth.COOKIE)
    if cookie:
        session = await run_in_threadpool(session_now, context(request), cookie)
        if session is None:
            await deny(request, 401, "anonymous", "no such session (expired, revoked or forged)")
        caller = Caller(session.account, "session", session)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            sent = request.headers.get("x-csrf-token") or getattr(request.state, "form_csrf", None)
            if not auth.csrf_ok(session, sent):
                await deny(request, 403, caller.actor.label, "missing or wrong CSRF token")
        return caller
    await deny(request, 401, "anonymous", "no credentials: send Authorization: Bearer <token>")


async def check_policy(request: Request, caller: Caller, route: str) -> Caller:
    """The caller may call `route` (its POLICY row), or the refusal is audited and raised."""
    request.state.caller = caller  # the error handler audits the engine's refusals by this caller
    if caller.role not in auth.POLICY[route]:
        await deny(request, 403, caller.actor.label, f"a {caller.role} account cannot do this ({route})")
    return caller


def allowed(route: str) -> Callable[..., Awaitable[Caller]]:
    """The dependency of a route behind the policy row `route`."""
    if route not in auth.POLICY:  # fails when the route is declared, not when it is called
        raise KeyError(f"no policy row {route!r} in console/auth.py POLICY")

    async def check(request: Request, caller: Caller = Depends(authenticate)) -> Caller:
        return await check_policy(request, caller, route)

    return check


def idempotency_key(idempotency_key: str | None = Header(None)) -> str | None:
    """The request's Idempotency-Key, passed to the engine, which keeps the first answer
    (flows/idempotency.py) and checks its length."""
    return idempotency_key


IdemKey = Annotated[str | None, Depends(idempotency_key)]


# --- path values and what a caller sees --------------------------------------------------------


def ident(value: str, what: str) -> str:
    """An id from a path or body: a plain name, never a path (else: no such thing)."""
    if not _ID.match(value) or ".." in value:
        raise NotFound(f"no {what} {value!r}")
    return value


def visible(caller: Caller, data: Any) -> Any:
    return auth.redact(data, caller.role)
