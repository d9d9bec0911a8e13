"""A site's `site.yaml` as models (`SiteSpec`: teams, channels, quiet hours, pools, service
queues), shaped like the YAML; runbooks/sites.py turns one into a `Site`."""

from __future__ import annotations

import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from .models import LANGS, HumanText, Id, Spec
from .service import QueueSpec

CHANNEL_KINDS = ("webhook", "slack", "teams", "wecom", "dingtalk", "feishu", "sms", "smtp", "console")


def _check_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "timezone", 'unknown timezone "{value}" (use an IANA name like Asia/Shanghai)', {"value": value}
        ) from None
    return value


class TeamSpec(Spec):
    name: HumanText
    leads: list[str] = []
    description: HumanText | None = None


class ChannelSpec(Spec):
    kind: Literal[CHANNEL_KINDS]  # type: ignore[valid-type]
    url: str | None = None
    secret: str | None = None
    headers: dict[str, str] = {}
    # smtp
    host: str | None = None
    port: int | None = None
    username: str | None = None
    password: str | None = None
    from_: str | None = Field(None, alias="from")
    to: list[str] = []
    starttls: bool = True
    lang: Literal[LANGS] | None = None  # type: ignore[valid-type]
    per_minute: int | None = Field(None, ge=1, le=100000)  # rate limit (default: 20 for wecom and dingtalk)
    # sms: the gateway request, any vendor: the JSON body with ${{ to }} (one number),
    # ${{ recipients }} (a list), ${{ text }}, ${{ id }} and ${{ env.X }}; `batch` numbers a call.
    # Without body: {"id": "${{ id }}", "to": "${{ to }}", "text": "${{ text }}"}.
    body: dict[str, Any] | None = None
    batch: int = Field(1, ge=1, le=1000)

    @model_validator(mode="after")
    def _has_address(self) -> ChannelSpec:
        if self.kind == "smtp" and not self.host:
            raise PydanticCustomError("channel", "an smtp channel needs host:")
        if self.kind not in ("smtp", "console") and not self.url:
            raise PydanticCustomError("channel", "a {kind} channel needs url:", {"kind": self.kind})
        return self


class QuietHours(Spec):
    """Local times (the site's timezone) when reminders wait; escalations do not."""

    from_: str = Field(alias="from", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    to: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class PoolSpec(Spec):
    file: str
    key: str
    description: HumanText | None = None
    # A consumable pool (supplies): one row per item kind with its `quantity`; tasks draw
    # quantities; a level under its `min` alerts once.
    consumable: bool = False
    min: dict[str, int] = {}


class SiteSpec(Spec):
    id: Id
    name: HumanText
    kind: Id
    timezone: Annotated[str, AfterValidator(_check_timezone)] = "UTC"
    lang: Literal[LANGS] = "en"  # type: ignore[valid-type]
    description: HumanText | None = None
    teams: dict[Id, TeamSpec] = Field(min_length=1)
    channels: dict[Id, ChannelSpec] = {}
    default_channel: Id | None = None
    drill_channel: Id | None = None
    quiet_hours: QuietHours | None = None
    pools: dict[Id, PoolSpec] = {}
    service: dict[Id, QueueSpec] = {}  # queues staffed 7x24 (runbooks/service.py)
