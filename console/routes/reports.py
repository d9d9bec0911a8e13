"""API and dashboard edge for after the event: a run's report (`GET /api/runs/{run}/report` as
JSON, HTML or PDF; the report page) and findings tracked to closure (`POST
/api/runs/{run}/findings`, `POST /api/findings/{id}/close`, `GET /api/sites/{site}/findings`,
the site's findings page) (docs/api.md)."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from flows.errors import Invalid

from .. import i18n
from ..deps import Caller, Context, IdemKey, allowed, context, ident, visible
from ..report_doc import chart_context, lang_for, report_html, report_pdf
from ..schemas import FindingCreate, ReasonBody
from ..web import flash_of, lang_of, one, render, segment, web_key
from .pages import Form, page

router = APIRouter()


@router.get("/api/runs/{run}/report", response_model=None)
def report(
    run: str,
    ctx: Context,
    format: str = Query("json", max_length=8),
    lang: str | None = Query(None, max_length=8),
    caller: Caller = Depends(allowed("report")),
) -> Any:
    if format not in ("json", "html", "pdf"):
        raise Invalid(f'format is json, html or pdf, not "{format}"')
    data = visible(caller, ctx.engine.report(ident(run, "run")))
    if format == "json":
        return data
    chosen = lang_for(data, lang)
    if format == "html":
        # A document to save (its style is inline): a download, never a page this origin serves.
        return Response(
            report_html(data, chosen),
            media_type="text/html; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="report-{data["run"]["id"]}.html"'},
        )
    return Response(
        report_pdf(data, chosen),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="report-{data["run"]["id"]}.pdf"'},
    )


@router.get("/runs/{run}/report", response_class=HTMLResponse, include_in_schema=False)
@page("report")
async def report_page(request: Request, caller: Caller) -> Response:
    engine = context(request).engine
    data = visible(caller, await run_in_threadpool(engine.report, ident(request.path_params["run"], "run")))
    title = f"{i18n.translator(lang_of(request))('After-action report')} · {data['run']['name']}"
    flash = flash_of(request)
    return render(
        request,
        caller,
        "report.html",
        title=title,
        data=data,
        flash=flash,
        idem=secrets.token_urlsafe(12),  # a double click records one finding
        **chart_context(data),
    )


@router.post("/runs/{run}/findings", include_in_schema=False)
@page("findings_add", "POST")
async def add_finding_form(request: Request, caller: Caller, form: Form) -> Response:
    """The report page's form: a manager records a finding (the API's rules and messages)."""
    engine = context(request).engine
    run_id = ident(request.path_params["run"], "run")
    await run_in_threadpool(
        lambda: engine.add_finding(
            run_id,
            caller.actor,
            observation=one(form, "observation"),
            discussion=one(form, "discussion"),
            recommendation=one(form, "recommendation"),
            owner=one(form, "owner"),
            due=one(form, "due"),
            key=web_key(caller, form),
        )
    )
    return RedirectResponse(f"/runs/{segment(run_id)}/report?ok=1#findings", 303)


@router.post("/api/runs/{run}/findings", status_code=201)
def add_finding(
    run: str, body: FindingCreate, ctx: Context, key: IdemKey, caller: Caller = Depends(allowed("findings_add"))
) -> Any:
    return ctx.engine.add_finding(
        ident(run, "run"),
        caller.actor,
        observation=body.observation,
        discussion=body.discussion,
        recommendation=body.recommendation,
        owner=body.owner,
        due=body.due,
        key=key,
    )


@router.post("/api/findings/{finding}/close")
def close_finding(
    finding: str, body: ReasonBody, ctx: Context, key: IdemKey, caller: Caller = Depends(allowed("findings_close"))
) -> Any:
    return ctx.engine.close_finding(ident(finding, "finding"), caller.actor, reason=body.reason, key=key)


@router.get("/api/sites/{site}/findings")
def site_findings(
    site: str, ctx: Context, open: bool = Query(False), caller: Caller = Depends(allowed("findings"))
) -> Any:
    return ctx.engine.findings(ident(site, "site"), open_only=open)


@router.get("/sites/{site}/findings", response_class=HTMLResponse, include_in_schema=False)
@page("findings")
async def findings_page(request: Request, caller: Caller) -> Response:
    engine = context(request).engine
    site_id = ident(request.path_params["site"], "site")
    data = await run_in_threadpool(engine.findings, site_id)
    title = f"{i18n.translator(lang_of(request))('Findings')} · {site_id}"
    return render(request, caller, "findings.html", title=title, data=data, flash=flash_of(request))


@router.post("/sites/{site}/findings/{finding}/close", include_in_schema=False)
@page("findings_close", "POST")
async def close_finding_form(request: Request, caller: Caller, form: Form) -> Response:
    engine = context(request).engine
    site_id = ident(request.path_params["site"], "site")
    finding = ident(request.path_params["finding"], "finding")
    await run_in_threadpool(lambda: engine.close_finding(finding, caller.actor, reason=one(form, "reason")))
    return RedirectResponse(f"/sites/{segment(site_id)}/findings?ok=1", 303)
