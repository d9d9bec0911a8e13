"""`calls` (a team's call task for a roll call, flows/call_tasks.py): opened by the engine, not
by a runbook step; nobody checks it off: it ends when the last of the team answered (a lead
records the answers of those they reach) or when a manager closes the roll call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .base import StepKind


class Calls(StepKind):
    name = "calls"

    def refuse_check_off(self, task: Mapping[str, Any]) -> str | None:
        return (
            f"task {task['id']} ends by itself when everyone on its call list answered: record each "
            "person's answer on the call list (or a manager closes the roll call)"
        )


KIND = Calls()
