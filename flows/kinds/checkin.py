"""`checkin`: recurring welfare questions to each item's person (flows/checkins.py). The task
stays `ready` while its rounds go on: the runner's look at it (`ready_to_run`) opens, reminds
and misses rounds and never claims it as a job; it is done after its last round. Nobody checks
it off: the person answers through their link."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runbooks.plan import PlannedStep

from .. import checkins
from ..runview import RunView
from ..states import transition
from .base import StepKind


class Checkin(StepKind):
    name = "checkin"
    runs = True
    background = True  # the run completes when its work is done; check-ins end with it

    def ready_to_run(self, rs: RunView, step: PlannedStep, task: dict[str, Any]) -> bool:
        checkins.tick(rs, step, task)
        return False

    def end_with_run(self, rs: RunView, task: Mapping[str, Any]) -> None:
        if task["state"] == "ready":
            transition(rs, task, "done", by="engine", outputs=checkins.outputs_of(rs, task), reason="the run is done")
        else:  # never started (its people were not confirmed)
            transition(rs, task, "cancelled", by="engine", reason="the run is done")

    def refuse_check_off(self, task: Mapping[str, Any]) -> str | None:
        return f"task {task['id']} is a person's check-ins: they answer through their personal link"


KIND = Checkin()
