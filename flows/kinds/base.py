"""What a step kind does, as hooks the state machine calls (`StepKind`): when a task becomes
actionable, what a check-off of it takes, what its outputs read while it is open, what
happens when it ends without success, at its due time and at its timers. A kind overrides
the hooks it needs; the defaults are those of a plain manual task."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runbooks.expressions import ExpressionError, render_value
from runbooks.plan import PlannedStep

from ..actors import Actor
from ..errors import Invalid
from ..fields import check_fields
from ..runview import RunView
from ..store import Reader


def people_choices(
    rs: RunView, step: PlannedStep, task: Mapping[str, Any], spec: Mapping[str, Any]
) -> list[dict[str, str]]:
    """The people a `people` field may list, `{id, name, team}`: its `options` rendered now in
    the task's context (default: the site's roster)."""
    options = spec.get("options")
    if not isinstance(options, str):
        found: Any = list(rs.plan.site.staff)
    else:
        try:
            found = render_value(options, rs.context(step, task))
        except ExpressionError as e:
            raise Invalid(f"task {task['id']}: the options of its people field: {e}") from None
    if not isinstance(found, list | tuple):
        return []
    out = []
    for p in found:
        person = p if isinstance(p, Mapping) else (rs.plan.site.person(str(p)) or {"id": str(p)})
        out.append(
            {
                "id": str(person["id"]),
                "name": str(person.get("name") or person["id"]),
                "team": str(person.get("team") or ""),
            }
        )
    return out


def people_options(rs: RunView, step: PlannedStep, task: Mapping[str, Any], spec: Mapping[str, Any]) -> frozenset[str]:
    """The staff ids a `people` field may list."""
    return frozenset(p["id"] for p in people_choices(rs, step, task, spec))


class StepKind:
    name = ""
    runs = False  # executed by the runner (through Prefect): see flows/steps/ for its executor
    decides = False  # approved or rejected, not checked off
    answered = False  # a roll call: people answer it (flows/muster.py)
    assigned_event = "task.assigned"  # the event when it becomes someone's to do
    background = False  # goes on beside the run's work: does not hold the run open (check-ins)
    live_keys: tuple[str, ...] = ()  # the outputs `live_ratio` reads (all it is given: Reader.step_outline)

    def on_actionable(self, rs: RunView, step: PlannedStep, task: dict[str, Any]) -> None:
        """Just made actionable (waiting or ready) in this transaction."""

    def refuse_check_off(self, task: Mapping[str, Any]) -> str | None:
        """Why a person may not check this task off (None: they may), asked before anything else
        (also for a task of no runbook step)."""
        return None

    def check_off(
        self,
        rs: RunView,
        step: PlannedStep,
        task: Mapping[str, Any],
        actor: Actor,
        fields: Mapping[str, Any],
        note: str | None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A person checks it off: (the fields recorded, the task's outputs); Invalid if not."""
        if self.decides:
            raise Invalid(f"task {task['id']} is an approval: use approve or reject")
        specs = step.params.get("fields", {})
        people = {
            name: people_options(rs, step, task, spec) for name, spec in specs.items() if spec["type"] == "people"
        }
        values = check_fields(specs, fields, task["id"], people)
        return values, {**values, "by": actor.identity, "note": note}

    def live_outputs(
        self, reader: Reader, run_id: str, step: PlannedStep, task: Mapping[str, Any], site: Any
    ) -> dict[str, Any]:
        """Its outputs as expressions and views see them now."""
        return dict(task["outputs"] or {})

    def live_ratio(self, task: Mapping[str, Any], options: Sequence[str] | None = None) -> float | None:
        """For a `ratio` objective over this single task: its live value (None: the share of
        its items done). `options`: the roll-call answers that count (None: any). The task's
        outputs hold only the kinds' `live_keys`."""
        return None

    def objective_news(self, rs: RunView, step: PlannedStep) -> dict[str, Any]:
        """What an objective over this step's task adds to its `objective.*` events."""
        return {}

    def on_ended(self, rs: RunView, task: Mapping[str, Any]) -> None:
        """It ended without success (failed, rejected, skipped, cancelled) in this transaction."""

    def on_due(self, rs: RunView, task: Mapping[str, Any]) -> bool:
        """Its due time passed; True when the kind handled it (no overdue flag, no on_timeout)."""
        return False

    def on_escalate(self, rs: RunView, step: PlannedStep, task: Mapping[str, Any]) -> None:
        """Escalated (after the generic `task.escalated`): anything more the kind sends."""

    def on_remind(self, rs: RunView, step: PlannedStep, task: Mapping[str, Any], n: int) -> None:
        """A reminder is due: by default its owner hears `task.reminder`."""
        rs.event("task.reminder", task["id"], owner=task["owner"], title=task["title"], n=n)

    def ready_to_run(self, rs: RunView, step: PlannedStep, task: dict[str, Any]) -> bool:
        """A ready task of a runner kind: may it be claimed now?"""
        return True

    def job_context(self, step: PlannedStep, context: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The context its parameters render in, and the secret values to mask."""
        return context, []

    def job_extra(self, rs: RunView, step: PlannedStep, task: Mapping[str, Any]) -> dict[str, Any]:
        """What its executor needs from the run besides its parameters, read when it is claimed."""
        return {}

    def on_result(
        self, rs: RunView, step: PlannedStep, task: Mapping[str, Any], outputs: dict[str, Any]
    ) -> dict[str, Any]:
        """Its executor returned `outputs`: apply them (in the recording transaction); the
        task's outputs."""
        return outputs

    def end_with_run(self, rs: RunView, task: Mapping[str, Any]) -> None:
        """A background kind's open task when the rest of the run is done."""

    def job_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters rendered for the runner's job (the others are rendered later)."""
        return dict(params)

    def on_done(self, rs: RunView, step: PlannedStep, task: Mapping[str, Any], outputs: Mapping[str, Any]) -> None:
        """A runner kind's task succeeded with these outputs (in the transaction recording it)."""

    def on_decided(
        self, rs: RunView, task: Mapping[str, Any], approved: bool, actor: Actor, reason: str | None
    ) -> None:
        """An approval of this kind was decided (approved: its last approver; or rejected)."""
