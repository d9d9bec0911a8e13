"""API edge: a site's lockdown and stand-down, its pools' stock and restocking (docs/api.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ..deps import Caller, Context, IdemKey, allowed, ident
from ..schemas import LockdownBody, RestockBody, StanddownBody

router = APIRouter()


@router.post("/api/sites/{site}/lockdown")
def lockdown(
    site: str, ctx: Context, body: LockdownBody = LockdownBody(), caller: Caller = Depends(allowed("lockdown"))
) -> JSONResponse:
    runs, created = ctx.engine.lockdown(ident(site, "site"), caller.actor, drill=body.drill)
    return JSONResponse({"runs": runs}, 201 if created else 200)


@router.post("/api/sites/{site}/standdown", status_code=201)
def standdown(
    site: str,
    ctx: Context,
    key: IdemKey,
    body: StanddownBody = StanddownBody(),
    caller: Caller = Depends(allowed("standdown")),
) -> dict[str, Any]:
    return {"runs": ctx.engine.standdown(ident(site, "site"), caller.actor, key=key, drill=body.drill)}


@router.get("/api/sites/{site}/pools")
def pools(site: str, ctx: Context, drill: bool = False, caller: Caller = Depends(allowed("pools"))) -> dict[str, Any]:
    return ctx.engine.pools(ident(site, "site"), drill=drill)


@router.post("/api/sites/{site}/pools/{pool}/restock")
def restock(
    site: str,
    pool: str,
    body: RestockBody,
    ctx: Context,
    key: IdemKey,
    caller: Caller = Depends(allowed("restock")),
) -> dict[str, Any]:
    return ctx.engine.restock(
        ident(site, "site"),
        ident(pool, "pool"),
        caller.actor,
        from_site=ident(body.from_site, "site"),
        count=body.count,
        reason=body.reason,
        key=key,
        drill=body.drill,
    )
