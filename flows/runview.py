"""What code working inside a run's transaction may use of it: the `RunView` protocol that
flows/runstate.RunState implements. States, kinds, roll calls and pools are typed against
this, so they need not import the RunState (which sits above them: its expression context
asks the step kinds for their live outputs)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from runbooks.plan import Plan, PlannedStep

from .store import Tx


class RunView(Protocol):
    tx: Tx
    run: dict[str, Any]
    plan: Plan
    now: datetime
    actor: str
    changed: set[tuple[str, str | None]]
    created: list[dict[str, Any]]
    ended: list[dict[str, Any]]

    @property
    def run_id(self) -> str: ...

    @property
    def changed_steps(self) -> set[str]: ...

    def scaled(self, seconds: int | float) -> timedelta: ...

    def event(self, event: str, task_id: str | None = None, /, **data: Any) -> None: ...

    def audit(
        self, action: str, target: str | None = None, reason: str | None = None, actor: str | None = None, **detail: Any
    ) -> None: ...

    def context(self, step: PlannedStep | None, task: Mapping[str, Any] | None = None) -> dict[str, Any]: ...

    def item_key_of(self, step: PlannedStep, item: Any) -> str: ...

    def new_task(self, step: PlannedStep, item_key: str | None = None, item: Any = None) -> dict[str, Any]: ...
