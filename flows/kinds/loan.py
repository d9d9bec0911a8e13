"""`loan`: agents asked of another site by a runbook. The request is filed (flows/loan_ops.py,
audited on both sites' chains) in the transaction that makes the task actionable, as the run;
the task stays `ready` while the lending site's manager decides, and the runner's look at it
(`ready_to_run`) ends it: done when the loan is accepted (its outputs: the loan), failed —
its owner told — when refused or when it could not be filed. Nobody checks it off."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from typing import Any

from runbooks.expressions import ExpressionError, render_value
from runbooks.models import parse_duration
from runbooks.plan import PlannedStep

from .. import notify
from ..errors import EngineError
from ..loan_requests import file_loan, lending_site
from ..runview import RunView
from ..states import transition
from .base import StepKind

LOOK_EVERY = dt.timedelta(seconds=2)  # how often the runner reads the loan's state (real time)
_DURATION = re.compile(r"^(\d+[smhd])+$")


class Loan(StepKind):
    name = "loan"
    runs = True  # the runner's look ends it; it is never claimed as a job

    def on_actionable(self, rs: RunView, step: PlannedStep, task: dict[str, Any]) -> None:
        try:
            request = _request(rs, step, task)
            sites = {rs.plan.site.id: rs.plan.site}
            if request["from_site"] != rs.plan.site.id:
                sites[request["from_site"]] = lending_site(request["from_site"])
            row = file_loan(rs.tx, sites, **request, by=f"run:{rs.run_id}", now=rs.now, drill=bool(rs.run.get("drill")))
        except (EngineError, ExpressionError) as e:
            message = getattr(e, "message", None) or str(e)
            _fail(rs, step, task, f"the loan request could not be filed: {message}", by="engine")
            return
        rs.tx.update_task(rs.run_id, task["id"], expect=["ready"], outputs=outputs_of(row), next_attempt_at=rs.now)
        rs.audit("loan.requested", task["id"], request["reason"], loan=row["id"], lender=row["from_site"])

    def ready_to_run(self, rs: RunView, step: PlannedStep, task: dict[str, Any]) -> bool:
        loan_id = (task.get("outputs") or {}).get("loan")
        loan = rs.tx.loan(loan_id) if loan_id else None
        if loan is None:
            _fail(rs, step, task, "its loan request is gone", by="engine")
        elif loan["state"] in ("active", "recalled"):
            transition(rs, task, "done", by=loan["decided_by"], outputs=outputs_of(loan))
        elif loan["state"] == "refused":
            reason = f"{loan['from_site']} refused the loan of {loan['agents']} agents"
            reason += f": {loan['note']}" if loan["note"] else ""
            _fail(rs, step, task, reason, by=loan["decided_by"], outputs=outputs_of(loan))
        else:  # still requested: look again soon
            rs.tx.update_task(rs.run_id, task["id"], expect=["ready"], next_attempt_at=rs.now + LOOK_EVERY)
        return False

    def refuse_check_off(self, task: Mapping[str, Any]) -> str | None:
        return (
            f"task {task['id']} is a loan request: it ends when the lending site's manager accepts or "
            "refuses it (runbook lend accept|refuse LOAN)"
        )


def _fail(
    rs: RunView,
    step: PlannedStep,
    task: Mapping[str, Any],
    reason: str,
    *,
    by: str | None,
    outputs: Mapping[str, Any] | None = None,
) -> None:
    """Failed, and its owner and the managers told why (a failed task tells no one by default)."""
    if not transition(rs, task, "failed", by=by, reason=reason, outputs=outputs):
        return
    notify.queue(
        rs.tx,
        site=rs.plan.site,
        run=rs.run,
        event="task.failed",
        now=rs.now,
        targets=[t for t in (task.get("owner"), "role:manager") if t],
        context={**rs.context(step, task), "runbook_name": rs.plan.name},
        task={**task, "state": "failed", "reason": reason},
        data={"reason": reason},
        send_in_drill=step.drill == "send",
    )


def _request(rs: RunView, step: PlannedStep, task: Mapping[str, Any]) -> dict[str, Any]:
    """The step's parameters rendered now: the loan's sites, queue, agents and window."""
    context = rs.context(step, task)
    values = {k: render_value(step.params[k], context) for k in ("from", "queue", "agents", "start", "end", "reason")}
    try:
        agents = int(values["agents"])
    except (TypeError, ValueError):
        raise ExpressionError(f"agents gave {values['agents']!r}, not a number") from None
    return {
        "from_site": str(values["from"]),
        "to_site": rs.plan.site.id,
        "queue": str(values["queue"]),
        "agents": agents,
        "start": _moment(values["start"], rs.now, "start"),
        "end": _moment(values["end"], rs.now, "end"),
        "reason": str(values["reason"]),
        "loan_id": "l" + hashlib.sha256(f"{rs.run_id}:{task['id']}:{rs.now.isoformat()}".encode()).hexdigest()[:10],
    }


def _moment(value: Any, now: dt.datetime, key: str) -> dt.datetime:
    """A duration after the request (calendar time: never scaled, like shifts and coverage) or an
    ISO 8601 time."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    text = str(value).strip()
    if _DURATION.match(text):
        return now + dt.timedelta(seconds=parse_duration(text))
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ExpressionError(f"{key}: {text!r} is neither a duration (72h) nor an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def outputs_of(loan: Mapping[str, Any]) -> dict[str, Any]:
    def iso(moment: dt.datetime) -> str:
        aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")

    return {
        "loan": loan["id"],
        "state": loan["state"],
        "from": loan["from_site"],
        "agents": int(loan["agents"]),
        "start": iso(loan["start_at"]),
        "end": iso(loan["end_at"]),
        "decided_by": loan["decided_by"],
        "note": loan["note"],
    }


KIND = Loan()
