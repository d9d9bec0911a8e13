"""API edge: the bodies the JSON API accepts (docs/api.md), one pydantic model a request
shape, strict (`extra="forbid"`) and bounded, so a typo or a huge field is a 422 before any
engine call."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LockdownBody(Body):
    drill: bool = False


class StanddownBody(Body):
    drill: bool | None = None  # which lockdown ends when a drill and a real one are both active


class StartBody(Body):
    runbook: str = Field(max_length=200)
    site: str = Field(max_length=200)
    inputs: dict[str, Any] = {}
    drill: bool = False


# The engine requires these reasons (422 without one, with its own message naming the command);
# the document says so, so generated clients send one.
_REASON_REQUIRED = ConfigDict(extra="forbid", json_schema_extra={"required": ["reason"]})


class ReasonBody(Body):
    model_config = _REASON_REQUIRED
    reason: str | None = Field(default=None, max_length=2000)


class SwapBody(Body):
    model_config = _REASON_REQUIRED
    to: str = Field(min_length=1, max_length=64)
    reason: str | None = Field(default=None, max_length=2000)


class LoanBody(Body):
    model_config = _REASON_REQUIRED
    from_site: str = Field(min_length=1, max_length=64)
    to_site: str = Field(min_length=1, max_length=64)
    queue: str = Field(min_length=1, max_length=64)
    agents: int = Field(ge=1, le=10_000)
    start: datetime
    end: datetime
    reason: str | None = Field(default=None, max_length=2000)


class LoanAcceptBody(Body):
    force: bool = False
    reason: str | None = Field(default=None, max_length=2000)


class CompleteBody(Body):
    note: str | None = Field(default=None, max_length=4000)
    fields: dict[str, Any] = {}
    reason: str | None = Field(default=None, max_length=2000)


class ApproveBody(Body):
    note: str | None = Field(default=None, max_length=4000)
    reason: str | None = Field(default=None, max_length=2000)


class InterveneBody(Body):
    model_config = _REASON_REQUIRED
    reason: str | None = Field(default=None, max_length=2000)
    to: str | None = Field(default=None, max_length=300)


class BulkBody(Body):
    tasks: list[str] = Field(min_length=1, max_length=1000)
    note: str | None = Field(default=None, max_length=4000)
    fields: dict[str, Any] = {}  # the same check-off fields for every task
    reason: str | None = Field(default=None, max_length=2000)


class AddBody(Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"required": ["title", "owner", "reason"]})
    title: str = Field(min_length=1, max_length=300)
    owner: str = Field(max_length=300)
    reason: str | None = Field(default=None, max_length=2000)
    due: str | None = Field(default=None, max_length=20)


class UpdateBody(Body):
    text: str = Field(min_length=1, max_length=2000)  # the engine holds it to 500 after folding spaces


class AnswerBody(Body):
    person: str = Field(max_length=64)
    option: str = Field(max_length=100)
    note: str | None = Field(default=None, max_length=500)  # how the lead reached them


class SmsBody(Body):
    model_config = ConfigDict(extra="ignore")  # gateways add their own fields
    from_: str = Field(alias="from", max_length=40)
    text: str = Field(max_length=1000)


class RestockBody(Body):
    from_site: str = Field(max_length=200)
    count: int = Field(ge=1, le=100000)
    reason: str | None = Field(default=None, max_length=2000)  # required: 422 without one
    drill: bool | None = None  # the drill's sandbox (True), the real stock (False), or inferred


class RequeueBody(Body):
    ids: list[str] = []
    reason: str | None = Field(default=None, max_length=2000)


# --- answers -----------------------------------------------------------------------------------


class Health(BaseModel):
    status: str
    store: str
    runner: bool
    runs_owned: int
    prefect_api: str | None


class Me(BaseModel):
    """The caller's account; `csrf` only for a dashboard session (absent, not null, for a token)."""

    name: str
    role: str
    staff: str | None
    teams: list[str]
    via: str
    csrf: str | None = None
    sites: list[str] | None = None  # a manager's tied sites (`users add --site` or a sign-in's groups); absent: global


class Requeued(BaseModel):
    requeued: int


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorAnswer(BaseModel):
    """The one error shape (console/errors.py)."""

    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorAnswer, "description": description}
    for status, description in (
        (400, "a bad request (a missing CSRF token, a bad Idempotency-Key)"),
        (401, "no token or session, or a revoked or expired one"),
        (403, "the caller's role or team may not (audited)"),
        (404, "no such run, task, step, site or link"),
        (409, "the task or run is not in a state for this"),
        (413, "a body over 1 MiB, or more form fields than the form has"),
        (415, "a body that is not JSON"),
        (422, "a body, path or query that does not validate; a control character; a non-finite number"),
        (429, "too many attempts from this client: wait Retry-After seconds"),
    )
}


class FindingCreate(Body):
    """A finding about a run (`POST /api/runs/{run}/findings`)."""

    observation: str | None = Field(default=None, max_length=4000)
    discussion: str | None = Field(default=None, max_length=4000)
    recommendation: str | None = Field(default=None, max_length=4000)
    owner: str | None = Field(default=None, max_length=300)
    due: str | None = Field(default=None, max_length=20)
