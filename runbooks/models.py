"""Models stage: plain values → pydantic models shaped exactly like the runbook YAML (as written).

Nothing here is resolved: durations stay strings, expressions stay `${{ }}` text. `plan.py`
turns these into the resolved, frozen Plan. Every model forbids unknown keys and is strict
(a YAML `"5"` is not an integer), so typos surface as errors rather than as defaults.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from .clean import MAX_MAGNITUDE

ID_PATTERN = r"^[a-z][a-z0-9_]*$"
DURATION_RE = re.compile(r"^(?:\d+[smhd])+$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

EVENTS = (
    "site.lockdown",
    "site.standdown",
    "run.started",
    "run.completed",
    "run.failed",
    "run.cancelled",
    "run.update",
    "task.assigned",
    "task.reminder",
    "task.overdue",
    "task.escalated",
    "task.done",
    "task.failed",
    "task.cancelled",
    "approval.requested",
    "muster.request",
    "objective.reached",
    "objective.at_risk",
    "coverage.gap",
)
TRIGGER_EVENTS = ("site.lockdown", "site.standdown")
LANGS = ("en", "zh-CN")
# What a runbook's own templates (and inline messages) may name besides the run context.
MESSAGE_VARS = frozenset({"event", "task", "data", "link", "recipient"})
HUMAN_KINDS = frozenset({"manual", "approval", "muster"})


def parse_duration(text: str) -> int:
    """`1h30m` → 5400 seconds. The text must already match DURATION_RE."""
    return sum(int(n) * _UNIT_SECONDS[u] for n, u in re.findall(r"(\d+)([smhd])", text))


MAX_DURATION_DAYS = 366  # a continuity event is days long; a longer due or timeout is a typo


def _check_duration(value: str) -> str:
    if not DURATION_RE.match(value):
        raise PydanticCustomError("duration", 'bad duration "{value}"', {"value": value})
    if parse_duration(value) > MAX_DURATION_DAYS * 86400:
        raise PydanticCustomError(
            "duration", 'duration "{value}" is over {days} days', {"value": value, "days": MAX_DURATION_DAYS}
        )
    return value


def _check_id(value: str) -> str:
    if not re.match(ID_PATTERN, value):
        raise PydanticCustomError("bad_id", 'bad id "{value}"', {"value": value})
    return value


Id = Annotated[str, AfterValidator(_check_id)]
OBJECTIVE_NEED = "objective:"


def _check_need(value: str) -> str:
    """A step id, or `objective:<id>`: the step waits until that objective is met."""
    _check_id(value[len(OBJECTIVE_NEED) :] if value.startswith(OBJECTIVE_NEED) else value)
    return value


Need = Annotated[str, AfterValidator(_check_need)]
Duration = Annotated[str, AfterValidator(_check_duration)]
Text = str
Expr = str  # a string that may hold ${{ }}
Scalar = Union[bool, int, float, str]  # noqa: UP007 (pydantic tries the members in this order)


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


class Trigger(Spec):
    event: Literal["site.lockdown", "site.standdown"]
    if_: bool | Expr | None = Field(None, alias="if")


class InputSpec(Spec):
    type: Literal["string", "integer", "number", "boolean", "choice"] = "string"
    default: Scalar | None = None
    required: bool = False
    description: Text | None = None
    options: list[str] | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None

    @model_validator(mode="after")
    def _choice_has_options(self) -> InputSpec:
        _check_bounds(self)
        if self.type == "choice" and not self.options:
            raise PydanticCustomError("choice_options", "an input of type choice needs options")
        return self


class ObjectiveSpec(Spec):
    id: Id
    name: Text
    count: Id | None = None
    ratio: Id | None = None
    # A coverage objective: the share of intervals of a site queue staffed in the rolling horizon.
    coverage: Id | None = None
    horizon: Duration | None = None
    # A ratio over a roll call may name the answers that count (effective capacity: on site or
    # home); without it, every answer counts (accounted for).
    options: list[Id] | None = Field(default=None, min_length=1)
    target: int | float | Expr
    within: Duration
    description: Text | None = None

    @model_validator(mode="after")
    def _one_measure(self) -> ObjectiveSpec:
        if [self.count, self.ratio, self.coverage].count(None) != 2:
            raise PydanticCustomError("one_of", "an objective measures exactly one of count:, ratio: or coverage:")
        if self.horizon is not None and self.coverage is None:
            raise PydanticCustomError("horizon_coverage", "horizon: belongs to a coverage: objective")
        if self.options is not None and self.ratio is None:
            raise PydanticCustomError("options_ratio", "options: belongs to a ratio: objective over a roll call")
        return self


class NotifyRule(Spec):
    on: list[Literal[EVENTS]] = Field(min_length=1)  # type: ignore[valid-type]
    to: list[Expr] = Field(min_length=1)
    template: Text | None = None
    message: Expr | None = None

    @model_validator(mode="after")
    def _one_body(self) -> NotifyRule:
        if self.template is not None and self.message is not None:
            raise PydanticCustomError("one_of", "a notify rule has template: or message:, not both")
        return self


# A runbook's own message template: one text for every language, or one per language
# (`en` is used for a language not given). Line 1 is the subject.
TemplateSpec = Union[Expr, dict[Literal[LANGS], Expr]]  # type: ignore[valid-type]  # noqa: UP007


class Remind(Spec):
    every: Duration
    max: int = Field(3, ge=1)


class Escalate(Spec):
    after: Duration
    to: Expr


class StepBase(Spec):
    id: Id
    name: Expr | None = None
    description: Text | None = None
    needs: list[Need] = []
    if_: bool | Expr | None = Field(None, alias="if")
    for_each: Expr | list[Any] | None = None
    as_: Id = Field("item", alias="as")
    key: Expr | None = None
    owner: Expr | None = None
    due: Duration | None = None
    estimate: Duration | None = None
    remind: Remind | None = None
    escalate: Escalate | None = None
    on_timeout: Literal["flag", "fail", "skip"] = "flag"
    phase: Text | None = None
    retries: int = Field(0, ge=0, le=100)
    drill: Literal["record", "send"] = "record"

    @property
    def step_needs(self) -> list[str]:
        return [n for n in self.needs if not n.startswith(OBJECTIVE_NEED)]

    @property
    def objective_needs(self) -> tuple[str, ...]:
        return tuple(n[len(OBJECTIVE_NEED) :] for n in self.needs if n.startswith(OBJECTIVE_NEED))


def _check_bounds(spec: InputSpec | FieldSpec) -> None:
    """`minimum`/`maximum`: for integer and number only, finite, in order."""
    for name in ("minimum", "maximum"):
        value = getattr(spec, name)
        if value is None:
            continue
        if spec.type not in ("integer", "number"):
            raise PydanticCustomError("bounds", "{name} is for integer and number only", {"name": name})
        if not math.isfinite(value) or abs(value) > MAX_MAGNITUDE:
            raise PydanticCustomError("bounds", "{name} must be a finite number", {"name": name})
    if spec.minimum is not None and spec.maximum is not None and spec.minimum > spec.maximum:
        raise PydanticCustomError("bounds", "minimum is greater than maximum")


class FieldSpec(Spec):
    type: Literal["string", "integer", "number", "boolean", "choice", "people"] = "string"
    required: bool = False
    pattern: str | None = None
    # choice: the values; people: an expression giving staff (default: the site's roster)
    options: list[str] | Expr | None = None
    description: Text | None = None
    minimum: int | float | None = None
    maximum: int | float | None = None

    @model_validator(mode="after")
    def _pattern_compiles(self) -> FieldSpec:
        _check_bounds(self)
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as e:
                raise PydanticCustomError(
                    "bad_pattern", "pattern does not compile: {error}", {"error": str(e)}
                ) from None
        if self.type == "choice" and not isinstance(self.options, list | None):
            raise PydanticCustomError("choice_options", "the options of a choice field are a list")
        if self.type == "choice" and not self.options:
            raise PydanticCustomError("choice_options", "a field of type choice needs options")
        if self.type == "people" and isinstance(self.options, list):
            raise PydanticCustomError(
                "people_options", "the options of a people field are an expression giving staff (${{ site.staff }})"
            )
        return self


class ManualStep(StepBase):
    kind: Literal["manual"]
    fields: dict[Id, FieldSpec] = {}
    returns: Id | None = None  # a pool: each done item (keyed by the pool's key) goes back to it
    # consumable pools: pool → item → quantity (or an expression), taken at the check-off
    draws: dict[Id, dict[str, int | Expr]] = {}


class ApprovalStep(StepBase):
    kind: Literal["approval"]
    required: int = Field(1, ge=1, le=10)
    allow_self: bool = False


class MusterStep(StepBase):
    kind: Literal["muster"]
    audience: Expr | list[str]
    question: Expr
    options: dict[Id, Text] = Field(min_length=2)
    quorum: float = Field(1.0, gt=0, le=1)


class AllocateStep(StepBase):
    kind: Literal["allocate"]
    pool: Id
    handover: bool = False


class HttpRequest(Spec):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    url: Expr
    headers: dict[str, Expr] = {}
    json_: Any = Field(None, alias="json")
    expect: list[int] | None = None
    timeout: Duration = "30s"


class HttpStep(StepBase):
    kind: Literal["http"]
    with_: HttpRequest = Field(alias="with")


class GrantStep(StepBase):
    """Access granted per item (`with:`, as an http request), kept on the grant ledger, revoked
    by `revoke:` and checked by `verify:` (a 404 or an empty list means revoked)."""

    kind: Literal["grant"]
    system: Id
    profile: Text
    scope: list[Text] = []
    expires: Duration | None = None
    review: Duration | None = None
    with_: HttpRequest = Field(alias="with")
    # Optional in the shape so that validate reports its absence with its own code (RB550).
    revoke: HttpRequest | None = None
    verify: HttpRequest | None = None


class CheckinQuestion(Spec):
    text: Expr | dict[Literal[LANGS], Expr]  # type: ignore[valid-type]
    # Optional in the shape so that validate reports a question without options as RB552.
    options: dict[Id, Text] = {}


class CheckinStep(StepBase):
    """Recurring welfare questions to each item's person through their personal link: every
    `every`, `rounds` times (0: until the run ends); an answer matching `flag` is a task for the
    step's owner; a round unanswered by `window` (default `every`) is reminded at half of it,
    then its owner's leads are told."""

    kind: Literal["checkin"]
    every: Duration
    rounds: int = Field(0, ge=0, le=1000)
    window: Duration | None = None
    questions: dict[Id, CheckinQuestion] = Field(min_length=1)
    flag: dict[Id, Id | list[Id]] = {}


class NotifyStep(StepBase):
    kind: Literal["notify"]
    to: list[Expr] = Field(min_length=1)
    template: Text | None = None
    message: Expr | None = None

    @model_validator(mode="after")
    def _one_body(self) -> NotifyStep:
        if (self.template is None) == (self.message is None):
            raise PydanticCustomError("one_of", "a notify step has exactly one of template: or message:")
        return self


class WaitStep(StepBase):
    kind: Literal["wait"]
    for_: Duration | None = Field(None, alias="for")
    until: Expr | None = None

    @model_validator(mode="after")
    def _one_condition(self) -> WaitStep:
        if (self.for_ is None) == (self.until is None):
            raise PydanticCustomError("one_of", "a wait step has exactly one of for: or until:")
        return self


class ShiftPattern(Spec):
    start: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]  # local time of day, HH:MM
    length: Duration


class ShiftsStep(StepBase):
    """The shift plan of a site queue for the next `days` days (flows/shift_plan.py)."""

    kind: Literal["shifts"]
    queue: Id
    days: int = Field(7, ge=1, le=31)
    patterns: list[ShiftPattern] = Field(min_length=1, max_length=24)
    rest: Duration = "11h"  # between the end of a person's shift and the start of their next
    max_per_week: int = Field(5, ge=1, le=7)
    max_consecutive_nights: int = Field(3, ge=0, le=31)
    from_: Expr | list[str] = Field(alias="from")  # who is eligible: staff (ids or roster rows)
    time_limit: Duration = "20s"


class LoanStep(StepBase):
    """Agents asked of another site (flows/kinds/loan.py): the request is filed when the step
    becomes actionable and the task ends when the lending site's manager accepts (done) or
    refuses (failed)."""

    kind: Literal["loan"]
    from_: Expr = Field(alias="from")  # the lending site's id
    queue: Id  # a queue of both sites' service:
    agents: int | Expr
    start: Duration | Expr = "0s"  # a duration after the request is filed, or an ISO 8601 time
    end: Duration | Expr
    reason: Text


STEP_MODELS: dict[str, type[StepBase]] = {
    "manual": ManualStep,
    "approval": ApprovalStep,
    "muster": MusterStep,
    "allocate": AllocateStep,
    "http": HttpStep,
    "grant": GrantStep,
    "checkin": CheckinStep,
    "notify": NotifyStep,
    "wait": WaitStep,
    "shifts": ShiftsStep,
    "loan": LoanStep,
}

StepSpec = Annotated[
    ManualStep
    | ApprovalStep
    | MusterStep
    | AllocateStep
    | HttpStep
    | GrantStep
    | CheckinStep
    | NotifyStep
    | WaitStep
    | ShiftsStep
    | LoanStep,
    Field(discriminator="kind"),
]


class Runbook(Spec):
    id: Id
    name: Text
    version: int = Field(1, ge=1)
    description: Text | None = None
    trigger: Trigger | None = None
    inputs: dict[Id, InputSpec] = {}
    objectives: list[ObjectiveSpec] = []
    notify: list[NotifyRule] = []
    templates: dict[Id, TemplateSpec] = {}
    steps: list[StepSpec] = Field(min_length=1)


# Outputs each kind declares (beyond the per-kind dynamic ones: manual fields, allocate pool
# columns, muster answer groups); expressions are checked against these.
KIND_OUTPUTS: dict[str, frozenset[str]] = {
    "manual": frozenset({"by", "note"}),
    "approval": frozenset({"decision", "by", "reason"}),
    "muster": frozenset({"answers", "accounted", "unreachable", "counts"}),
    "allocate": frozenset({"by"}),
    "http": frozenset({"status", "json"}),
    "grant": frozenset({"status", "json", "grant_id", "expires_at"}),
    "checkin": frozenset({"rounds", "answered", "missed", "flags"}),
    "notify": frozenset({"sent"}),
    "wait": frozenset(),
    "shifts": frozenset({"shifts", "people", "short", "shortfall", "status", "gap", "seconds"}),
    "loan": frozenset({"loan", "state", "from", "agents", "start", "end", "decided_by", "note"}),
}
TASK_ATTRIBUTES = frozenset({"state", "outputs", "items", "counts"})
