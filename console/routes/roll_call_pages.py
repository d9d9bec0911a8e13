"""Dashboard edge: a roll call's call list — who has not answered, by team with numbers (a lead
sees their own teams, a manager every team) — with an answer form per person (option and note,
behind the `muster_answer` row) and, for a manager, the form that closes the roll call
(`muster_close`). The same forms sit on the roll call's task page (docs/api.md)."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from flows.errors import EngineError

from ..deps import Caller, context
from ..web import one, render, safe_next, segment, web_key
from .pages import Form, page, refused

router = APIRouter(include_in_schema=False)


def calls_path(run_id: str, step_id: str) -> str:
    return f"/runs/{segment(run_id)}/muster/{segment(step_id)}/calls"


async def calls_view(request: Request, caller: Caller, status: int = 200, **flash: Any) -> Response:
    engine = context(request).engine
    run_id, step_id = request.path_params["run"], request.path_params["step"]
    data = await run_in_threadpool(engine.call_list, run_id, step_id, caller.actor)
    return render(
        request,
        caller,
        "calls.html",
        status,
        title="Call list",
        data=data,
        calls=data,
        idem=secrets.token_urlsafe(12),
        **({"flash": "✓" if "ok" in request.query_params else None} | flash),
    )


@router.get("/runs/{run}/muster/{step}/calls", response_class=HTMLResponse)
@page("calls")
async def calls_page(request: Request, caller: Caller) -> Response:
    return await calls_view(request, caller)


def calls_action(form: Form) -> str:
    return "muster_close" if one(form, "action") == "close" else "muster_answer"


@router.post("/runs/{run}/muster/{step}/calls")
@page(calls_action, "POST")
async def calls_form(request: Request, caller: Caller, form: Form) -> Response:
    """A lead's answer for someone they reached (`person`, `option`, `note`), or a manager's close
    (`action=close`, `reason`); back to where the form was (`next`: the call list or the task)."""
    engine = context(request).engine
    run_id, step_id = request.path_params["run"], request.path_params["step"]
    person = one(form, "person") or ""
    if one(form, "action") == "close":
        what = f"close {run_id}/{step_id}"
        key = web_key(caller, form)

        def act() -> Any:
            return engine.close_muster(run_id, step_id, caller.actor, reason=one(form, "reason"), key=key)
    else:
        what = f"answer {run_id}/{step_id} for {person[:64]}"
        key = web_key(caller, form, person[:64])

        def act() -> Any:
            option, note = one(form, "option") or "", one(form, "note")
            return engine.answer(run_id, step_id, person, option, caller.actor, note=note, key=key)

    try:
        await run_in_threadpool(act)
    except EngineError as e:
        await refused(request, caller, what, e)
        return await calls_view(request, caller, e.status, flash=e.message, flash_kind="err")
    back = safe_next(one(form, "next")).split("?", 1)[0]
    return RedirectResponse((back if back != "/" else calls_path(run_id, step_id)) + "?ok=1", 303)
