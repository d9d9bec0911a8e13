"""`allocate`: takes one item of a site pool in the transaction that makes it actionable
(flows/pools.py): done, or waiting for its owner to confirm the hand-over with the key of the item handed over (the
allocated one, or another available one of the pool, which swaps the allocation),
or left ready while the pool is empty; an item not handed over goes back when the task ends
without success."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runbooks.plan import PlannedStep

from .. import pools
from ..actors import Actor
from ..runview import RunView
from .base import StepKind


class Allocate(StepKind):
    name = "allocate"

    def on_actionable(self, rs: RunView, step: PlannedStep, task: dict[str, Any]) -> None:
        pools.allocate(rs, step, task)

    def check_off(
        self,
        rs: RunView,
        step: PlannedStep,
        task: Mapping[str, Any],
        actor: Actor,
        fields: Mapping[str, Any],
        note: str | None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        values = {"asset": str((fields or {}).get("asset", "")).strip()}
        outputs = {**pools.confirm_handover(rs, step, task, values["asset"], actor.identity), "note": note}
        return values, outputs

    def on_ended(self, rs: RunView, task: Mapping[str, Any]) -> None:
        pools.release(rs, task, task.get("reason") or task["state"])


KIND = Allocate()
