"""API edge: watching the service — a run's server-sent events, `/metrics` (Prometheus text),
`/api/health`, and the API's own description (docs/api.md)."""

from __future__ import annotations

import ipaddress
from typing import Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from .. import auth
from ..deps import Caller, Context, allowed, authenticate, check_policy, ident
from ..metrics import CONTENT_TYPE as METRICS_TYPE
from ..metrics import render_metrics
from ..schemas import Health

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
    ctx: Context,
    after: int = 0,
    caller: Caller = Depends(allowed("events")),
    last_event_id: str | None = Header(None),
) -> StreamingResponse:
    await run_in_threadpool(ctx.engine.run, ident(run, "run"))  # 404 for an unknown run
    start = int(last_event_id) if last_event_id and last_event_id.isdigit() else after
    return StreamingResponse(
        ctx.hub.stream(run, start), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
    )
