"""API edge: the caller's own account (`/api/me`) and the dashboard's sign-in: a token → a
session cookie (`/login`), and its end (`/logout`) (docs/api.md)."""

from __future__ import annotations

import urllib.parse
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from flows.notify import public_url
from flows.store import Store

from .. import auth, oidc_accounts, web
from ..deps import Caller, Context, allowed, authenticate, deny
from ..errors import ApiError
from ..pages import render_page
from ..schemas import Me

router = APIRouter()


@router.get("/api/me", response_model=Me, response_model_exclude_unset=True)
def me(ctx: Context, caller: Caller = Depends(allowed("me"))) -> dict[str, Any]:
    return {
        "name": caller.account["name"],
        "role": caller.role,
        "staff": caller.account["staff_id"],
        "teams": ["/".join(t) for t in caller.account["teams"]],
        "via": caller.via,
        **({"csrf": caller.session.csrf} if caller.session else {}),
        **({"sites": list(caller.account["sites"])} if caller.account.get("sites") else {}),
    }


@router.post("/login", responses={303: {"description": "signed in from the form: on to `next`"}})
async def login(request: Request, ctx: Context) -> Response:
    client = auth.client_of(request)
    foreign = foreign_origin(request, await run_in_threadpool(kept_public_url, ctx.store))
    if foreign:  # a page of another site posting our sign-in form (login CSRF)
        await deny(request, 403, "anonymous", f"sign-in from another origin ({foreign[:100]})")
    if ctx.oidc is not None and ctx.oidc.settings.only:  # API tokens stay for programs, not for sign-in
        await deny(request, 403, "anonymous", f"sign in with {ctx.oidc.settings.name} (RUNBOOK_OIDC_ONLY=1)")
    token, next_page = await token_from(request)
    # Counted before the check, so concurrent bad tries cannot all be answered 401. The bucket
    # holds guesses, not people: a valid token (192 random bits: never guessed) still signs in
    # from an address whose bucket others filled (everyone behind one proxy shares it).
    limited = ctx.limiter.begin(client) is not None
    account = await run_in_threadpool(auth.account_for_token, ctx.store, token) if token else None
    valid = account is not None and account["role"] != "gateway"
    if limited and not valid:
        await deny(request, 429, "anonymous", "too many failed logins; wait and try again")
    if not valid:
        await deny(request, 401, "anonymous", "unknown or revoked token")
    assert account is not None
    if not limited:
        ctx.limiter.succeeded(client)
    cookie, csrf = await run_in_threadpool(auth.login, ctx.store, account)
    secure = request.url.scheme == "https"
    response: Response = (
        JSONResponse({"name": account["name"], "role": account["role"], "csrf": csrf})
        if "json" in request.headers.get("content-type", "")
        else RedirectResponse(web.safe_next(next_page), 303)
    )
    response.set_cookie(auth.COOKIE, cookie, httponly=True, samesite="strict", secure=secure, path="/")
    return response


@router.post("/logout", responses={303: {"description": "signed out from the form: to /login"}})
async def logout(request: Request, ctx: Context) -> Response:
    form = "json" not in request.headers.get("content-type", "")
    if form:  # the dashboard's sign-out button: its CSRF token is a form field
        request.state.form_csrf = web.one(await web.read_form(request), "csrf")
    caller = await authenticate(request)
    cookie = request.cookies.get(auth.COOKIE)
    provider_logout = None
    if cookie:
        if ctx.oidc is not None and caller.session is not None:  # signed in at the provider: out there too
            base = await run_in_threadpool(oidc_accounts.base_url, ctx.store, str(request.base_url))
            after = base + "/login"
            provider_logout = await run_in_threadpool(
                oidc_accounts.logout_url, ctx.store, ctx.oidc, caller.session.id_hash, after
            )
        await run_in_threadpool(auth.logout, ctx.store, cookie)
    response: Response
    if not form:
        response = JSONResponse({"ok": True, **({"provider_logout": provider_logout} if provider_logout else {})})
    elif provider_logout:  # a link, not a redirect: the form's CSP (form-action 'self') stops redirects elsewhere
        lang = web.lang_of(request)
        page = render_page(
            "login.html",
            **web.login_context(request, lang, "/", None, signed_out=True, provider_logout=provider_logout),
        )
        response = HTMLResponse(page)
    else:
        response = RedirectResponse("/login", 303)
    response.delete_cookie(auth.COOKIE, path="/")
    return response


def kept_public_url(store: Store) -> str:
    with store.read() as r:
        return public_url(r)


def foreign_origin(request: Request, public: str) -> str | None:
    """The `Origin` (else the `Referer`'s origin) when it is neither the public URL's nor this
    request's own; None when it matches or a non-browser client sent neither."""
    sent = request.headers.get("origin")
    if sent is None:
        referer = request.headers.get("referer")
        if not referer:
            return None
        parts = urllib.parse.urlsplit(referer)
        sent = f"{parts.scheme}://{parts.netloc}"
    own = {_origin_of(public), f"{request.url.scheme}://{request.headers.get('host', '')}"}
    return None if sent.rstrip("/").lower() in own else sent


def _origin_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


async def token_from(request: Request) -> tuple[str | None, str | None]:
    """A login's token and where to go next, from JSON or an HTML form."""
    token: Any
    next_page: str | None
    if "json" in request.headers.get("content-type", ""):
        try:
            data = await request.json()
        except ValueError:
            raise ApiError(422, "body is not JSON") from None
        token = data.get("token") if isinstance(data, dict) else None
        next_page = None
    else:  # an HTML form (application/x-www-form-urlencoded)
        form = await web.read_form(request, max_fields=10)
        token = next(iter(form.get("token") or []), None)
        next_page = next(iter(form.get("next") or []), None)
    return (token.strip() if isinstance(token, str) and token.strip() else None), next_page
