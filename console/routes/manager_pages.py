"""Dashboard edge: a manager's actions as pages and forms — declare a lockdown (a drill by
default; a real one asks for the site's id typed), stand down (confirmed the same way), the
runbooks page and a runbook's start form from its `inputs`, an ad-hoc task, a status update.
Each form is the API's route behind the same policy row (console/auth.py), with the session's
CSRF token and a one-time key so a double click acts once; the Engine audits every decision."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from flows.errors import Invalid

from .. import i18n
from ..deps import Caller, context, ident
from ..web import lang_of, one, render, segment, web_key
from .pages import Form, page

router = APIRouter(include_in_schema=False)
INPUT_PREFIX = "in."  # a start form's input fields: `in.<name>`


def confirmed(form: Form, site_id: str, what: str) -> None:
    """A real lockdown and a stand-down ask for the site's id typed: a slip of the mouse
    cannot declare or end one."""
    typed = one(form, "confirm") or ""
    if typed != site_id:
        raise Invalid(f'to {what}, type the site id "{site_id}" in the confirmation box (got "{typed[:40]}")')


# --- lockdown and stand-down ---------------------------------------------------------------------


@router.post("/sites/{site}/lockdown")
@page("lockdown", "POST")
async def lockdown_form(request: Request, caller: Caller, form: Form) -> Response:
    engine = context(request).engine
    site_id = ident(request.path_params["site"], "site")
    mode = one(form, "mode") or "drill"
    if mode not in ("drill", "real"):
        raise Invalid(f'mode: "drill" or "real", got "{mode[:20]}"')
    if mode == "real":
        confirmed(form, site_id, "declare a real lockdown")
    runs, _created = await run_in_threadpool(lambda: engine.lockdown(site_id, caller.actor, drill=mode == "drill"))
    if len(runs) == 1:
        return RedirectResponse(f"/runs/{segment(runs[0]['id'])}?ok=lockdown", 303)
    return RedirectResponse("/?ok=lockdown", 303)


@router.post("/sites/{site}/standdown")
@page("standdown", "POST")
async def standdown_form(request: Request, caller: Caller, form: Form) -> Response:
    engine = context(request).engine
    site_id = ident(request.path_params["site"], "site")
    confirmed(form, site_id, "stand down")
    await run_in_threadpool(lambda: engine.standdown(site_id, caller.actor, key=web_key(caller, form)))
    return RedirectResponse("/?ok=standdown", 303)


# --- the runbooks page and a runbook's start form ------------------------------------------------


@router.get("/runbooks", response_class=HTMLResponse)
@page("runbooks")
async def runbooks_page(request: Request, caller: Caller) -> Response:
    data = await run_in_threadpool(context(request).engine.runbooks)
    title = i18n.translator(lang_of(request))("Runbooks")
    return render(request, caller, "runbooks.html", title=title, data=data)


@router.get("/runbooks/{runbook}", response_class=HTMLResponse)
@page("runbooks")
async def runbook_page(request: Request, caller: Caller) -> Response:
    runbook_id = ident(request.path_params["runbook"], "runbook")
    data = await run_in_threadpool(context(request).engine.runbook, runbook_id)
    return render(request, caller, "runbook.html", title=data["name"], data=data, idem=secrets.token_urlsafe(12))


def inputs_of(form: Form) -> dict[str, str]:
    """`in.<name>` fields given (an empty one takes the input's default)."""
    return {k[len(INPUT_PREFIX) :]: v for k in form if k.startswith(INPUT_PREFIX) and (v := one(form, k)) is not None}


@router.post("/runbooks/{runbook}/start")
@page("start_run", "POST")
async def start_form(request: Request, caller: Caller, form: Form) -> Response:
    engine = context(request).engine
    runbook_id = ident(request.path_params["runbook"], "runbook")
    site_id = ident(one(form, "site") or "", "site")
    drill = (one(form, "mode") or "drill") != "real"
    if not drill:
        confirmed(form, site_id, "start a real (not drill) run")
    run = await run_in_threadpool(
        lambda: engine.start(
            runbook_id,
            site_id,
            caller.actor,
            inputs=inputs_of(form),
            drill=drill,
            allow_path=False,
            key=web_key(caller, form),
        )
    )
    return RedirectResponse(f"/runs/{segment(run['id'])}?ok=start", 303)


# --- a run's ad-hoc task and status update -------------------------------------------------------


@router.post("/runs/{run}/tasks")
@page("add_task", "POST")
async def add_task_form(request: Request, caller: Caller, form: Form) -> Response:
    engine = context(request).engine
    run_id = request.path_params["run"]
    task: dict[str, Any] = await run_in_threadpool(
        lambda: engine.add(
            run_id,
            caller.actor,
            reason=one(form, "reason"),
            title=one(form, "title") or "",
            owner=one(form, "owner") or "",
            due=one(form, "due"),
            key=web_key(caller, form),
        )
    )
    return RedirectResponse(f"/runs/{segment(run_id)}/tasks/{segment(task['task']['id'])}?ok=add", 303)


@router.post("/runs/{run}/updates")
@page("run_update", "POST")
async def update_form(request: Request, caller: Caller, form: Form) -> Response:
    engine = context(request).engine
    run_id = request.path_params["run"]
    await run_in_threadpool(
        lambda: engine.update(run_id, caller.actor, text=one(form, "text") or "", key=web_key(caller, form))
    )
    return RedirectResponse(f"/runs/{segment(run_id)}?ok=update#timeline", 303)
