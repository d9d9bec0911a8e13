"""`muster` (a roll call): personal links go out when it opens; staff answer it (flows/muster.py),
nobody checks it off; its groups are read from the answers while it is open; at its due time
it closes if its quorum is reached; its reminders go to those who have not answered and its
escalation gives each team's leads their people to call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runbooks.plan import PlannedStep

from .. import muster
from ..actors import Actor
from ..errors import Invalid
from ..notify import public_url
from ..runview import RunView
from ..store import Reader
from .base import StepKind


class Muster(StepKind):
    name = "muster"
    answered = True
    live_keys = ("accounted", "asked", "counts")

    def on_actionable(self, rs: RunView, step: PlannedStep, task: dict[str, Any]) -> None:
        muster.open_roll_call(rs, step, task)

    def check_off(
        self,
        rs: RunView,
        step: PlannedStep,
        task: Mapping[str, Any],
        actor: Actor,
        fields: Mapping[str, Any],
        note: str | None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        raise Invalid(f"task {task['id']} is a roll call: staff answer it")

    def live_outputs(
        self, reader: Reader, run_id: str, step: PlannedStep, task: Mapping[str, Any], site: Any
    ) -> dict[str, Any]:
        if task["state"] == "waiting":  # the groups, read from the answers when something needs them
            return muster.full_outputs(reader, run_id, step, site)
        return dict(task["outputs"] or {})

    def live_ratio(self, task: Mapping[str, Any], options: Sequence[str] | None = None) -> float | None:
        """Accounted for (any answer), or the share whose latest answer is one of `options`
        (effective capacity: on site or home); answers keep counting after due."""
        outputs = task["outputs"] or {}
        if options is None:
            accounted = outputs.get("accounted")
            return float(accounted) if isinstance(accounted, (int, float)) else 0.0
        counts = outputs.get("counts") or {}
        asked = outputs.get("asked") or 0
        return round(sum(counts.get(o, 0) for o in options) / asked, 4) if asked else 0.0

    def objective_news(self, rs: RunView, step: PlannedStep) -> dict[str, Any]:
        """Never "all clear" while people are missing: how many, and the call list."""
        outputs = (rs.tx.task(rs.run_id, step.id) or {}).get("outputs") or {}
        return {
            "unaccounted": max(0, int(outputs.get("asked") or 0) - int(outputs.get("answered") or 0)),
            "call_list": f"{public_url(rs.tx)}/runs/{rs.run_id}/muster/{step.id}/calls",
        }

    def on_due(self, rs: RunView, task: Mapping[str, Any]) -> bool:
        return muster.on_due(rs, task)

    def on_escalate(self, rs: RunView, step: PlannedStep, task: Mapping[str, Any]) -> None:
        muster.escalate(rs, step, task)

    def on_remind(self, rs: RunView, step: PlannedStep, task: Mapping[str, Any], n: int) -> None:
        muster.remind(rs, step, task)


KIND = Muster()
