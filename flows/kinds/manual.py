"""`manual`: a person checks it off with its fields; a step with `returns: <pool>` puts the
item back in stock (the stand-down's laptop returns); one with `draws:` takes quantities from
consumable pools (flows/supplies.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runbooks.plan import PlannedStep

from .. import pools, supplies
from ..actors import Actor
from ..runview import RunView
from .base import StepKind


class Manual(StepKind):
    name = "manual"

    def check_off(
        self,
        rs: RunView,
        step: PlannedStep,
        task: Mapping[str, Any],
        actor: Actor,
        fields: Mapping[str, Any],
        note: str | None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        values, outputs = super().check_off(rs, step, task, actor, fields, note)
        if step.params.get("returns") and task["item_key"] is not None:
            pools.give_back(rs, step.params["returns"], task, values.get("condition"))
        if step.params.get("draws"):
            outputs["drawn"] = supplies.draw(rs, step, task)
        return values, outputs


KIND = Manual()
