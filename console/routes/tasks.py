"""API edge: a run's tasks — list, add, check off (one or many), approve, reject, and a
manager's interventions (skip, retry, reassign) (docs/api.md). The engine checks ownership
and keeps each Idempotency-Key's first answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from flows.actors import ownership
from flows.errors import EngineError, Forbidden

from .. import auth
from ..deps import Caller, Context, IdemKey, allowed, ident, visible
from ..schemas import AddBody, ApproveBody, BulkBody, CompleteBody, InterveneBody, ReasonBody

router = APIRouter()


@router.get("/api/runs/{run}/tasks")
def tasks(
    run: str,
    ctx: Context,
    team: str | None = None,
    state: str | None = None,
    step: str | None = None,
    mine: bool = False,
    caller: Caller = Depends(allowed("tasks")),
) -> dict[str, Any]:
    rows = ctx.engine.tasks(ident(run, "run"), team=team, state=state, step=step)
    if mine:
        site = ctx.engine.run(run)["site"]
        rows = [t for t in rows if ownership(caller.actor, t["owner"], site) == "own"]
    return {"tasks": visible(caller, rows)}


@router.post("/api/runs/{run}/tasks", status_code=201)
def add_task(run: str, body: AddBody, ctx: Context, key: IdemKey, caller: Caller = Depends(allowed("add_task"))) -> Any:
    return ctx.engine.add(
        ident(run, "run"), caller.actor, reason=body.reason, title=body.title, owner=body.owner, due=body.due, key=key
    )


@router.post("/api/runs/{run}/tasks:complete")
def complete_bulk(
    run: str,
    body: BulkBody,
    ctx: Context,
    key: IdemKey,
    caller: Caller = Depends(allowed("complete_bulk")),
) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    for task in body.tasks:
        try:
            done = ctx.engine.complete(
                ident(run, "run"),
                ident(task, "task"),
                caller.actor,
                note=body.note,
                fields=body.fields,
                reason=body.reason,
                key=f"{key}:{task}" if key else None,
            )
            results.append({"task": task, "status": 200, "result": visible(caller, done)})
        except EngineError as e:
            if isinstance(e, Forbidden):
                auth.audit_denial(ctx.store, caller.actor.label, f"complete {run}/{task}", e.message, "-", ctx.denials)
            results.append({"task": task, "status": e.status, "error": {"code": e.code, "message": e.message}})
    return {"results": results}


@router.post("/api/runs/{run}/tasks/{task}/complete")
def complete(
    run: str,
    task: str,
    ctx: Context,
    key: IdemKey,
    body: CompleteBody = CompleteBody(),
    caller: Caller = Depends(allowed("complete")),
) -> Any:
    done = ctx.engine.complete(
        ident(run, "run"),
        ident(task, "task"),
        caller.actor,
        note=body.note,
        fields=body.fields,
        reason=body.reason,
        key=key,
    )
    return visible(caller, done)


@router.post("/api/runs/{run}/tasks/{task}/approve")
def approve(
    run: str,
    task: str,
    ctx: Context,
    key: IdemKey,
    body: ApproveBody = ApproveBody(),
    caller: Caller = Depends(allowed("approve")),
) -> Any:
    done = ctx.engine.approve(
        ident(run, "run"), ident(task, "task"), caller.actor, note=body.note, reason=body.reason, key=key
    )
    return visible(caller, done)


@router.post("/api/runs/{run}/tasks/{task}/reject")
def reject(
    run: str, task: str, body: ReasonBody, ctx: Context, key: IdemKey, caller: Caller = Depends(allowed("reject"))
) -> Any:
    done = ctx.engine.reject(ident(run, "run"), ident(task, "task"), caller.actor, reason=body.reason, key=key)
    return visible(caller, done)


@router.post("/api/runs/{run}/tasks/{task}/skip")
def skip(
    run: str, task: str, body: InterveneBody, ctx: Context, key: IdemKey, caller: Caller = Depends(allowed("skip"))
) -> Any:
    return ctx.engine.skip(ident(run, "run"), ident(task, "task"), caller.actor, reason=body.reason, key=key)


@router.post("/api/runs/{run}/tasks/{task}/retry")
def retry(
    run: str, task: str, body: InterveneBody, ctx: Context, key: IdemKey, caller: Caller = Depends(allowed("retry"))
) -> Any:
    return ctx.engine.retry(ident(run, "run"), ident(task, "task"), caller.actor, reason=body.reason, key=key)


@router.post("/api/runs/{run}/tasks/{task}/reassign")
def reassign(
    run: str,
    task: str,
    body: InterveneBody,
    ctx: Context,
    key: IdemKey,
    caller: Caller = Depends(allowed("reassign")),
) -> Any:
    return ctx.engine.reassign(
        ident(run, "run"), ident(task, "task"), caller.actor, reason=body.reason, to=body.to, key=key
    )
