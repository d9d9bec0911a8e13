"""API edge: the bodies the JSON API accepts (docs/api.md), one pydantic model a request
shape, strict (`extra="forbid"`) and bounded, so a typo or a huge field is a 422 before any
engine call."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LockdownBody(Body):
    drill: bool = False


class StartBody(Body):
    runbook: str = Field(max_length=200)
    site: str = Field(max_length=200)
    inputs: dict[str, Any] = {}
    drill: bool = False


class ReasonBody(Body):
    reason: str | None = Field(default=None, max_length=2000)


class CompleteBody(Body):
    note: str | None = Field(default=None, max_length=4000)
    fields: dict[str, Any] = {}
    reason: str | None = Field(default=None, max_length=2000)


class ApproveBody(Body):
    note: str | None = Field(default=None, max_length=4000)
    reason: str | None = Field(default=None, max_length=2000)


class InterveneBody(Body):
    reason: str | None = Field(default=None, max_length=2000)
    to: str | None = Field(default=None, max_length=300)


class BulkBody(Body):
    tasks: list[str] = Field(min_length=1, max_length=1000)
    note: str | None = Field(default=None, max_length=4000)
    fields: dict[str, Any] = {}  # the same check-off fields for every task
    reason: str | None = Field(default=None, max_length=2000)


class AddBody(Body):
    title: str = Field(min_length=1, max_length=300)
    owner: str = Field(max_length=300)
    reason: str | None = Field(default=None, max_length=2000)
    due: str | None = Field(default=None, max_length=20)


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
    reason: str | None = Field(default=None, max_length=2000)


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


class Requeued(BaseModel):
    requeued: int
