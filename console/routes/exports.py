"""Exports edge: a run's audit and tasks as CSV files for spreadsheets —
`/runs/{run}/audit.csv` (`at,actor,action,target,reason,detail`, the audit's filters apply) and
`/runs/{run}/tasks.csv` (the task list's filters apply), for a session or a token, behind their
own policy rows; formula-like cells neutralised (console/exports.py) (docs/api.md)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from .. import auth
from ..deps import Caller, Context, allowed, ident
from ..exports import audit_csv, tasks_csv
from ..listing import filter_audit, filter_value

router = APIRouter(include_in_schema=False)


def csv_file(text: str, name: str) -> Response:
    # A byte-order mark so spreadsheet programs read the Chinese names as UTF-8.
    return Response(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/runs/{run}/audit.csv")
def audit_export(run: str, request: Request, ctx: Context, caller: Caller = Depends(allowed("audit_csv"))) -> Response:
    run_id = ident(run, "run")
    data = auth.redact(ctx.engine.audit(run_id), caller.role)
    params = request.query_params
    entries = filter_audit(
        data["entries"],
        actor=filter_value(params, "actor"),
        action=filter_value(params, "action"),
        target=filter_value(params, "target"),
    )
    return csv_file(audit_csv({"entries": entries}), f"audit-{run_id}.csv")


@router.get("/runs/{run}/tasks.csv")
def tasks_export(run: str, request: Request, ctx: Context, caller: Caller = Depends(allowed("tasks_csv"))) -> Response:
    run_id = ident(run, "run")
    params = request.query_params
    rows = ctx.engine.tasks(
        run_id,
        team=filter_value(params, "team"),
        state=filter_value(params, "state"),
        step=filter_value(params, "step"),
    )
    return csv_file(tasks_csv(auth.redact(rows, caller.role)), f"tasks-{run_id}.csv")
