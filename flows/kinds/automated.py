"""`http` and `wait`: executed by the runner through Prefect (flows/steps/ holds their
executors). An http request renders with `env` (its secrets masked in every message); a
wait's timer lives in the store (`next_attempt_at`), so it survives restarts."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from runbooks.expressions import ExpressionError, find_expressions, parse_expression, references, render_value
from runbooks.models import parse_duration
from runbooks.plan import PlannedStep

from ..runview import RunView
from ..states import transition
from .base import StepKind


class Http(StepKind):
    name = "http"
    runs = True

    def job_context(self, step: PlannedStep, context: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        return {**context, "env": dict(os.environ)}, env_values(step.params["with"])


class Wait(StepKind):
    name = "wait"
    runs = True

    def ready_to_run(self, rs: RunView, step: PlannedStep, task: dict[str, Any]) -> bool:
        if step.params.get("for") is not None:
            deadline = task["actionable_at"] + rs.scaled(parse_duration(step.params["for"]))
            if rs.now >= deadline:
                return True
            rs.tx.update_task(rs.run_id, task["id"], expect=["ready"], next_attempt_at=deadline)
            return False
        try:
            done = bool(render_value(step.params["until"], rs.context(step, task)))
        except ExpressionError as e:
            transition(rs, task, "failed", reason=f"until: {e}")
            return False
        if not done:
            rs.tx.update_task(rs.run_id, task["id"], expect=["ready"], next_attempt_at=rs.now + timedelta(seconds=1))
        return done


def env_values(value: Any) -> list[str]:
    """The values of the environment variables a request uses: masked in every message."""
    names: set[str] = set()

    def walk(v: Any) -> None:
        if isinstance(v, str):
            for found in find_expressions(v):
                for root, path in references(parse_expression(found.inner)):
                    if root == "env" and path:
                        names.add(str(path[0]))
        elif isinstance(v, dict):
            for item in v.values():
                walk(item)
        elif isinstance(v, list):
            for item in v:
                walk(item)

    walk(value)
    return [os.environ[n] for n in sorted(names) if os.environ.get(n)]


HTTP = Http()
WAIT = Wait()
