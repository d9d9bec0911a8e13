"""API edge: the dashboard's data, each page's JSON twin — sites overview, a run's board, a
caller's tasks, a task's page, a roll call's call list (docs/api.md). Each shares its page's
policy row (console/routes/pages.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from ..deps import Caller, Context, allowed, ident, visible

router = APIRouter()


@router.get("/api/overview")
def overview(ctx: Context, caller: Caller = Depends(allowed("overview"))) -> Any:
    return visible(caller, ctx.engine.overview())


@router.get("/api/runs/{run}/board")
def board(run: str, ctx: Context, caller: Caller = Depends(allowed("board"))) -> Any:
    return visible(caller, ctx.engine.board(ident(run, "run")))


@router.get("/api/my/tasks")
def my_tasks(ctx: Context, caller: Caller = Depends(allowed("my_tasks"))) -> Any:
    return visible(caller, ctx.engine.my_tasks(caller.actor))


@router.get("/api/runs/{run}/tasks/{task}")
def task(run: str, task: str, ctx: Context, caller: Caller = Depends(allowed("task"))) -> Any:
    return visible(caller, ctx.engine.task_page(ident(run, "run"), ident(task, "task"), caller.actor))


@router.get("/api/runs/{run}/muster/{step}/calls")
def calls(run: str, step: str, ctx: Context, caller: Caller = Depends(allowed("calls"))) -> Any:
    return ctx.engine.call_list(ident(run, "run"), ident(step, "step"), caller.actor)
