"""Call tasks: while a roll call has people missing, each team with people missing keeps an
open task for its leads, `calls:<step>:<team>`, to call them and record their answers. They
open at the roll call's escalation or when its gate closes with people missing, end (done)
when the last of that team answered, and are cancelled when a manager closes the roll call.
A call task keeps the ids still missing in its outputs, so an answer costs one row read.
Called inside the run's transaction (a RunView)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runbooks.plan import PlannedStep

from .headcount import unanswered_by_team
from .runview import RunView
from .states import create, task_id_of, transition

STEP = "calls"  # the step id of call tasks: not a step of the runbook (like `adhoc`)
KIND = "calls"


def task_id(step_id: str, team: str) -> str:
    return task_id_of(STEP, f"{step_id}:{team}")


def open_for_missing(rs: RunView, step: PlannedStep, muster_task: Mapping[str, Any]) -> int:
    """A call task for each team of the roll call with people missing that has none yet."""
    opened = 0
    for team, people in sorted(unanswered_by_team(rs.tx, rs.run_id, step.id, rs.plan.site).items()):
        tid = task_id(step.id, team)
        if not people or rs.tx.task(rs.run_id, tid) is not None:
            continue
        name = (rs.plan.site.teams.get(team) or {}).get("name", team)
        row = {
            "run_id": rs.run_id,
            "id": tid,
            "step_id": STEP,
            "item_key": f"{step.id}:{team}",
            "item": {"roll_call": step.id, "team": team},
            "title": f"Call the people of {name} who have not answered the roll call",
            "kind": KIND,
            "state": "waiting",
            "owner": f"team:{team}",
            "adhoc": False,
            "created_at": rs.now,
            "actionable_at": rs.now,
            "attempt": 0,
            "outputs": {"missing": [p["id"] for p in people], "roll_call": step.id, "team": team},
        }
        create(rs, [row])
        rs.event("task.assigned", tid, owner=row["owner"], title=row["title"], missing=len(people))
        opened += 1
    return opened


def answered(rs: RunView, step: PlannedStep, person: Mapping[str, Any]) -> None:
    """A first answer from someone of a team with a call task: off its list; the task is done
    when nobody of the team is missing any more."""
    team = person.get("team")
    if not team:
        return
    task = rs.tx.task(rs.run_id, task_id(step.id, str(team)))
    if task is None or task["state"] != "waiting":
        return
    outputs = dict(task["outputs"] or {})
    missing = [p for p in outputs.get("missing") or [] if p != person["id"]]
    outputs["missing"] = missing
    if missing:
        rs.tx.update_task(rs.run_id, task["id"], expect=["waiting"], outputs=outputs)
        rs.changed.add((STEP, task["item_key"]))
        return
    transition(rs, task, "done", by="engine", outputs=outputs, expect=["waiting"])
    rs.audit("calls.done", task["id"], actor="engine", team=team)


def cancel_all(rs: RunView, step: PlannedStep, reason: str) -> None:
    """The roll call was closed by a manager: its open call tasks end."""
    for task in rs.tx.tasks(rs.run_id, steps=[STEP], states=["waiting"]):
        if (task["item"] or {}).get("roll_call") == step.id:
            transition(rs, task, "cancelled", by=rs.actor, reason=reason, expect=["waiting"])
