"""API edge: runs — start, list, read, cancel, status updates, their audit — and the outbox (docs/api.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from flows.errors import Invalid

from ..deps import Caller, Context, IdemKey, allowed, ident, visible
from ..schemas import ReasonBody, RequeueBody, Requeued, StartBody, UpdateBody

router = APIRouter()


@router.post("/api/runs", status_code=201)
def start_run(body: StartBody, ctx: Context, key: IdemKey, caller: Caller = Depends(allowed("start_run"))) -> Any:
    if "/" in body.runbook or "/" in body.site or body.runbook.startswith(".") or body.site.startswith("."):
        raise Invalid("runbook and site are ids from the library, never paths")
    return ctx.engine.start(
        body.runbook, body.site, caller.actor, inputs=body.inputs, drill=body.drill, allow_path=False, key=key
    )


@router.get("/api/runs")
def runs(ctx: Context, caller: Caller = Depends(allowed("runs"))) -> dict[str, Any]:
    return {"runs": ctx.engine.runs()}


@router.get("/api/runs/{run}")
def run(run: str, ctx: Context, caller: Caller = Depends(allowed("run"))) -> Any:
    return ctx.engine.run(ident(run, "run"))


@router.post("/api/runs/{run}/cancel")
def cancel(run: str, body: ReasonBody, ctx: Context, key: IdemKey, caller: Caller = Depends(allowed("cancel"))) -> Any:
    return ctx.engine.cancel(ident(run, "run"), caller.actor, reason=body.reason, key=key)


@router.post("/api/runs/{run}/updates", status_code=201)
def post_update(
    run: str, body: UpdateBody, ctx: Context, key: IdemKey, caller: Caller = Depends(allowed("run_update"))
) -> Any:
    return ctx.engine.update(ident(run, "run"), caller.actor, text=body.text, key=key)


@router.get("/api/runs/{run}/audit")
def audit(run: str, ctx: Context, caller: Caller = Depends(allowed("audit"))) -> Any:
    return visible(caller, ctx.engine.audit(ident(run, "run")))


@router.get("/api/outbox")
def outbox(
    ctx: Context, state: str | None = None, run: str | None = None, caller: Caller = Depends(allowed("outbox"))
) -> Any:
    return ctx.engine.outbox(states=[state] if state else None, run_id=run)


@router.post("/api/outbox/retry", response_model=Requeued)
def outbox_retry(
    body: RequeueBody, ctx: Context, key: IdemKey, caller: Caller = Depends(allowed("outbox_retry"))
) -> dict[str, Any]:
    return {"requeued": ctx.engine.requeue(caller.actor, keys=body.ids or None, reason=body.reason, key=key)}
