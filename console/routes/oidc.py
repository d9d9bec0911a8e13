"""Dashboard edge: sign-in through the bank's identity provider (OpenID Connect, docs/api.md):
`/auth/oidc/login` → the provider (state, nonce, PKCE) → `/auth/oidc/callback` → a session.
A refused sign-in is a page saying why (the login page, with the status) and an
`access.denied` row of the access chain."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from .. import auth, i18n, oidc_accounts, web
from ..deps import audit_refusal, context
from ..errors import ApiError
from ..oidc import SignInRefused
from ..pages import render_page

router = APIRouter(include_in_schema=False)
CALLBACK = "/auth/oidc/callback"


def _refused(request: Request, e: SignInRefused) -> HTMLResponse:
    lang = web.lang_of(request)
    page = render_page("login.html", **web.login_context(request, lang, "/", e.message))
    response = HTMLResponse(page, e.status)
    response.delete_cookie(oidc_accounts.BROWSER_COOKIE, path="/auth/oidc")
    return response


@router.get("/auth/oidc/login")
async def oidc_login(request: Request, next: str = "/") -> Response:
    ctx = context(request)
    if ctx.oidc is None:
        raise ApiError(404, "sign-in with an identity provider is not configured (RUNBOOK_OIDC_ISSUER)")
    if ctx.oidc_starts.begin(auth.client_of(request)) is not None:
        e = SignInRefused("too many sign-ins started from this address; wait a minute and try again", 429)
        await audit_refusal(request, e.who, e.message)
        return _refused(request, e)
    base = await run_in_threadpool(oidc_accounts.base_url, ctx.store, str(request.base_url))
    try:
        url, browser = await run_in_threadpool(
            oidc_accounts.begin, ctx.store, ctx.oidc, base + CALLBACK, web.safe_next(next)
        )
    except SignInRefused as e:
        await audit_refusal(request, e.who, f"sign-in refused: {e.message}")
        return _refused(request, e)
    response = RedirectResponse(url, 303)
    # Lax, not Strict: the provider's redirect back is a navigation from its site.
    response.set_cookie(
        oidc_accounts.BROWSER_COOKIE,
        browser,
        max_age=int(oidc_accounts.LOGIN_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/auth/oidc",
    )
    return response


@router.get(CALLBACK)
async def oidc_callback(request: Request) -> Response:
    ctx = context(request)
    if ctx.oidc is None:
        raise ApiError(404, "sign-in with an identity provider is not configured (RUNBOOK_OIDC_ISSUER)")
    params = {k: v[:4000] for k, v in request.query_params.items()}
    browser = request.cookies.get(oidc_accounts.BROWSER_COOKIE)
    base = await run_in_threadpool(oidc_accounts.base_url, ctx.store, str(request.base_url))
    try:
        signed = await run_in_threadpool(oidc_accounts.finish, ctx.store, ctx.oidc, params, browser, base + CALLBACK)
    except SignInRefused as e:
        ctx.limiter.failed(auth.client_of(request))  # counts like a failed token sign-in
        await audit_refusal(request, e.who, f"sign-in refused: {e.message}", f"GET {CALLBACK}")
        return _refused(request, e)
    # A page of ours goes on to `next`, not a redirect: a SameSite=Strict cookie set while
    # coming from the provider's site is sent only on a navigation that starts here.
    lang = web.lang_of(request)
    page = render_page("signed_in.html", lang=lang, _=i18n.translator(lang), next=signed.next_page)
    response = HTMLResponse(page)
    secure = request.url.scheme == "https"
    response.set_cookie(auth.COOKIE, signed.cookie, httponly=True, samesite="strict", secure=secure, path="/")
    response.delete_cookie(oidc_accounts.BROWSER_COOKIE, path="/auth/oidc")
    return response
