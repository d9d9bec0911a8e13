"""`notify`: done when its messages are in the outbox, in the transaction that made it
actionable: the dispatcher delivers them (retried, never lost), so no runner is needed."""

from __future__ import annotations

from typing import Any

from runbooks.plan import PlannedStep

from .. import notify
from ..runview import RunView
from ..states import transition
from .base import StepKind


class Notify(StepKind):
    name = "notify"

    def on_actionable(self, rs: RunView, step: PlannedStep, task: dict[str, Any]) -> None:
        context = rs.context(step, task)
        sent = notify.tell(
            rs,
            "notify",
            notify.targets_of(step.params.get("to"), context),
            task=task,
            context={**context, "runbook_name": rs.plan.name},
            body=step.params,
            templates=rs.plan.templates,
            send_in_drill=step.drill == "send",
        )
        transition(rs, task, "done", outputs={"sent": sent}, by="engine", expect=["ready"])


KIND = Notify()
