"""API edge: the library — the runbooks a manager may start, with their inputs and the sites
each validates against (docs/api.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from ..deps import Caller, Context, allowed, ident

router = APIRouter()


@router.get("/api/runbooks")
def runbooks(ctx: Context, caller: Caller = Depends(allowed("runbooks"))) -> dict[str, Any]:
    return ctx.engine.runbooks()


@router.get("/api/runbooks/{runbook}")
def runbook(runbook: str, ctx: Context, caller: Caller = Depends(allowed("runbooks"))) -> dict[str, Any]:
    return ctx.engine.runbook(ident(runbook, "runbook"))
