"""API edge: loans of agents between sites — the list, a borrowing site's request, the lending
site's accept (or forced with a reason) or refusal, either site's recall (docs/api.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from ..deps import Caller, Context, IdemKey, allowed, ident
from ..schemas import LoanAcceptBody, LoanBody, ReasonBody

router = APIRouter()


@router.get("/api/loans")
def loans(
    ctx: Context, site: str | None = Query(None, max_length=64), caller: Caller = Depends(allowed("loans"))
) -> list[dict[str, Any]]:
    return ctx.engine.loans(site=ident(site, "site") if site else None)


@router.post("/api/loans", status_code=201)
def request_loan(
    body: LoanBody, ctx: Context, key: IdemKey, caller: Caller = Depends(allowed("loan_request"))
) -> dict[str, Any]:
    return ctx.engine.request_loan(
        caller.actor,
        from_site=ident(body.from_site, "site"),
        to_site=ident(body.to_site, "site"),
        queue=ident(body.queue, "queue"),
        agents=body.agents,
        start=body.start,
        end=body.end,
        reason=body.reason,
    )


@router.post("/api/loans/{loan}/accept")
def accept_loan(
    loan: str, body: LoanAcceptBody, ctx: Context, key: IdemKey, caller: Caller = Depends(allowed("loan_decide"))
) -> dict[str, Any]:
    return ctx.engine.accept_loan(ident(loan, "loan"), caller.actor, force=body.force, reason=body.reason)


@router.post("/api/loans/{loan}/refuse")
def refuse_loan(
    loan: str, body: ReasonBody, ctx: Context, key: IdemKey, caller: Caller = Depends(allowed("loan_decide"))
) -> dict[str, Any]:
    return ctx.engine.refuse_loan(ident(loan, "loan"), caller.actor, reason=body.reason)


@router.post("/api/loans/{loan}/recall")
def recall_loan(
    loan: str, body: ReasonBody, ctx: Context, key: IdemKey, caller: Caller = Depends(allowed("loan_decide"))
) -> dict[str, Any]:
    return ctx.engine.recall_loan(ident(loan, "loan"), caller.actor, reason=body.reason)
