"""API edge: watching the service — a run's server-sent events, `/metrics` (Prometheus text),
`/api/health`, and the API's own description (docs/api.md)."""

from __future__ import annotations

import ipaddress
from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from flows.errors import Invalid

from .. import auth
from ..deps import Caller, Context, allowed, authenticate, check_policy, ident, session_now
from ..metrics import CONTENT_TYPE as METRICS_TYPE
from ..metrics import render_metrics
from ..schemas import Health

MAX_SEQ = 2**63 - 1  # event ids are BIGINT

router = APIRouter()


def direct_loopback(request: Request) -> bool:
    """A caller on this machine that did not come through a proxy (which would set these)."""
    if any(h in request.headers for h in ("forwarded", "x-forwarded-for", "x-real-ip")):
        return False
    try:
        return request.client is not None and ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


@router.get("/api/health", response_model=Health)
def health(ctx: Context) -> dict[str, Any]:
    with ctx.store.read() as r:
        r.runs(states=["running"])  # the store answers
    return {
        "status": "ok",
        "store": ctx.store.dialect,
        "runner": ctx.runner is not None,
        "runs_owned": len(ctx.runner.owned) if ctx.runner else 0,
        "prefect_api": ctx.prefect_url,
    }


@router.get("/metrics")
async def metrics(request: Request, ctx: Context) -> Response:
    # Counts only, no personal data: a scraper on the same machine needs no token; through
    # a proxy (even a local one) or from elsewhere, a reading account's token is required;
    # credentials presented are always checked.
    presented = "authorization" in request.headers or auth.COOKIE in request.cookies
    if presented or not direct_loopback(request):
        await check_policy(request, await authenticate(request), "metrics")
    text = await run_in_threadpool(render_metrics, ctx.store, ctx.runner)
    return Response(text, media_type=METRICS_TYPE)


@router.get("/api/openapi.json")
def openapi(request: Request, caller: Caller = Depends(allowed("openapi"))) -> dict[str, Any]:
    return request.app.openapi()


@router.get("/api/runs/{run}/events")
async def events(
    run: str,
    request: Request,
    ctx: Context,
    after: int = Query(0, ge=0, le=MAX_SEQ, description="the last event seen (its `id`)"),
    caller: Caller = Depends(allowed("events")),
    last_event_id: str | None = Header(None, description="the last event seen, as sent on reconnecting"),
) -> StreamingResponse:
    await run_in_threadpool(ctx.engine.run, ident(run, "run"))  # 404 for an unknown run
    start = after
    if last_event_id is not None:
        text = last_event_id.strip()
        if not (text.isascii() and text.isdigit() and int(text) <= MAX_SEQ):
            raise Invalid(f"Last-Event-ID must be an event id (0 to {MAX_SEQ}), got {last_event_id[:40]!r}")
        start = int(text)
    cookie = request.cookies.get(auth.COOKIE, "")
    token = request.headers.get("authorization", "").partition(" ")[2].strip()

    async def still_valid() -> bool:
        if caller.session is not None:
            return await run_in_threadpool(session_now, ctx, cookie) is not None
        return await run_in_threadpool(auth.account_for_token, ctx.store, token) is not None

    return StreamingResponse(
        ctx.hub.stream(run, start, still_valid), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
    )
