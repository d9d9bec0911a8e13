"""Sites stage: a site directory (site.yaml, staff.csv, pool CSVs) → a frozen `Site`, or located errors.

A `Site` is also what a run stores as its snapshot (`Site.snapshot()` / `Site.from_snapshot()`),
so a run keeps the roster and pools it started with. Channel settings keep their
`${{ env.NAME }}` text: secrets are resolved only when a message is sent, never stored.
"""

from __future__ import annotations

import email.utils
import re
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from .clean import control_character
from .csvfiles import cell_col, read_csv
from .diagnostics import Diagnostic, RunbookError, did_you_mean
from .expressions import Scope, check_expression, find_expressions
from .models import LANGS, HumanText, Id, Spec
from .service import Queue, QueueSpec, load_service
from .shape import validate_model
from .source import Document, load_document
from .texts import text_json, text_of

CHANNEL_KINDS = ("webhook", "slack", "teams", "wecom", "dingtalk", "feishu", "sms", "smtp", "console")
SMS_VARS = frozenset({"to", "recipients", "text", "id"})
STAFF_REQUIRED = ("id", "name", "team")
STAFF_OPTIONAL = ("role", "phone", "email", "chat_id", "lang")


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


@dataclass(frozen=True)
class Pool:
    id: str
    key: str
    columns: tuple[str, ...]
    rows: tuple[dict[str, str], ...]
    consumable: bool = False
    minimum: tuple[tuple[str, int], ...] = ()  # (item kind, min level) of a consumable pool

    def available(self) -> list[dict[str, str]]:
        return [r for r in self.rows if r.get("status") == "available"]


@dataclass(frozen=True)
class Site:
    id: str
    name: str
    kind: str
    timezone: str
    lang: str
    teams: dict[str, dict[str, Any]]
    channels: dict[str, dict[str, Any]]
    default_channel: str | None
    drill_channel: str | None
    staff: tuple[dict[str, str], ...]
    pools: dict[str, Pool]
    path: str | None = None
    quiet_hours: tuple[str, str] | None = None  # ("22:00", "07:00") local time
    service: dict[str, Queue] = field(default_factory=dict)

    def person(self, staff_id: str) -> dict[str, str] | None:
        return next((p for p in self.staff if p["id"] == staff_id), None)

    def context(self) -> dict[str, Any]:
        """The `site` of the expression context."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "timezone": self.timezone,
            "lang": self.lang,
            "teams": self.teams,
            "staff": [dict(p) for p in self.staff],
            "pools": {pid: [dict(r) for r in p.rows] for pid, p in self.pools.items()},
        }

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": text_json(self.name),
            "kind": self.kind,
            "timezone": self.timezone,
            "lang": self.lang,
            "teams": {tid: {**t, "name": text_json(t["name"])} for tid, t in self.teams.items()},
            "channels": self.channels,
            "default_channel": self.default_channel,
            "drill_channel": self.drill_channel,
            "quiet_hours": list(self.quiet_hours) if self.quiet_hours else None,
            "staff": [dict(p) for p in self.staff],
            "pools": {
                pid: {
                    "key": p.key,
                    "columns": list(p.columns),
                    "rows": [dict(r) for r in p.rows],
                    **({"consumable": True, "min": dict(p.minimum)} if p.consumable else {}),
                }
                for pid, p in self.pools.items()
            },
            "service": {qid: q.snapshot() for qid, q in self.service.items()},
        }

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> Site:
        pools = {
            pid: Pool(
                pid,
                p["key"],
                tuple(p["columns"]),
                tuple(p["rows"]),
                bool(p.get("consumable")),
                tuple(sorted((p.get("min") or {}).items())),
            )
            for pid, p in data["pools"].items()
        }
        return cls(
            data["id"],
            text_of(data["name"]),
            data["kind"],
            data["timezone"],
            data["lang"],
            {tid: {**t, "name": text_of(t["name"])} for tid, t in data["teams"].items()},
            data["channels"],
            data.get("default_channel"),
            data.get("drill_channel"),
            tuple(data["staff"]),
            pools,
            quiet_hours=tuple(data["quiet_hours"]) if data.get("quiet_hours") else None,
            service={qid: Queue.from_snapshot(q) for qid, q in (data.get("service") or {}).items()},
        )


def load_site(directory: str | Path) -> Site:
    """Load and validate a site directory; every problem found is raised at once."""
    directory = Path(directory)
    site_file = directory / "site.yaml"
    if not site_file.is_file():
        raise RunbookError(
            [
                Diagnostic(
                    str(site_file),
                    1,
                    1,
                    "RB506",
                    "site.yaml is missing",
                    "a site directory holds site.yaml and staff.csv",
                )
            ]
        )
    doc = load_document(site_file)
    spec, problems = validate_model(doc, SiteSpec)
    if spec is None:
        raise RunbookError(problems)
    problems += _check_channels(doc, spec)
    staff, staff_problems = _load_staff(directory / "staff.csv", spec)
    problems += staff_problems
    roster = {p["id"] for p in staff}
    for team_id, team in spec.teams.items():
        for i, lead in enumerate(team.leads):
            if staff and lead not in roster:
                problems.append(
                    doc.diagnostic(
                        ("teams", team_id, "leads", i),
                        "RB507",
                        f'team lead "{lead}" of team "{team_id}" is not in staff.csv',
                        did_you_mean(lead, roster),
                    )
                )
    pools: dict[str, Pool] = {}
    for pool_id, pool_spec in spec.pools.items():
        pool, pool_problems = _load_pool(directory, doc, pool_id, pool_spec)
        problems += pool_problems
        if pool is not None:
            pools[pool_id] = pool
    service, service_problems = load_service(directory, doc, spec.service)
    problems += service_problems
    if problems:
        raise RunbookError(problems)
    return Site(
        spec.id,
        spec.name,
        spec.kind,
        spec.timezone,
        spec.lang,
        {tid: {"name": t.name, "leads": list(t.leads)} for tid, t in spec.teams.items()},
        {
            cid: c.model_dump(by_alias=True, exclude_defaults=True) | {"kind": c.kind}
            for cid, c in spec.channels.items()
        },
        spec.default_channel,
        spec.drill_channel,
        tuple(staff),
        pools,
        str(directory),
        (spec.quiet_hours.from_, spec.quiet_hours.to) if spec.quiet_hours else None,
        service,
    )


def _check_channels(doc: Document, spec: SiteSpec) -> list[Diagnostic]:
    problems = []
    scope = Scope(site=False, run=False, env=True)
    request = Scope(site=False, run=False, env=True, item_vars=SMS_VARS)  # an sms body: the message too

    def check(value: Any, loc: tuple, where: Scope) -> None:
        if isinstance(value, str):
            for found in find_expressions(value):
                for p in check_expression(found.inner, where):
                    problems.append(
                        doc.diagnostic(
                            loc, p.code, p.message, p.hint, offset=found.start, width=found.end - found.start
                        )
                    )
        elif isinstance(value, dict):
            for k, v in value.items():
                check(v, loc + (k,), where)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                check(v, loc + (i,), where)

    for cid, channel in spec.channels.items():
        for key, value in channel.model_dump(by_alias=True).items():
            check(value, ("channels", cid, key), request if key == "body" else scope)

    for key in ("default_channel", "drill_channel"):
        name = getattr(spec, key)
        if name is not None and name not in spec.channels:
            problems.append(
                doc.diagnostic(
                    (key,), "RB403", f'{key} names unknown channel "{name}"', did_you_mean(name, spec.channels)
                )
            )
    return problems


STAFF_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_PHONE = re.compile(r"\+?[0-9][0-9 ()./-]{4,30}")


def _contact_problems(person: dict[str, str]) -> list[tuple[str, str]]:
    """A roster address names one recipient: `<a@x>, b@evil.example` is two, and refused."""
    found: list[tuple[str, str]] = []
    written = (person.get("email") or "").strip()
    if written:
        parsed = email.utils.getaddresses([written])
        address = parsed[0][1] if len(parsed) == 1 else ""
        if len(parsed) != 1 or address != written or "@" not in address or control_character(written) or " " in written:
            found.append(("email", f"email {written!r} is not one plain address (like wang.li@bank.example)"))
    phone = (person.get("phone") or "").strip()
    if phone and not _PHONE.fullmatch(phone):
        found.append(("phone", f"phone {phone!r} is not a phone number (like +86 29 8888 0001)"))
    return found


def _load_staff(path: Path, spec: SiteSpec) -> tuple[list[dict[str, str]], list[Diagnostic]]:
    p = str(path)
    if not path.is_file():
        return [], [Diagnostic(p, 1, 1, "RB506", "staff.csv is missing", f"columns: {', '.join(STAFF_REQUIRED)}")]
    header, rows = read_csv(path)
    missing = [c for c in STAFF_REQUIRED if c not in header]
    if missing:
        return [], [
            Diagnostic(
                p,
                1,
                1,
                "RB501",
                f"staff.csv has no column {', '.join(missing)}",
                f"the header needs {', '.join(STAFF_REQUIRED)}; optional: {', '.join(STAFF_OPTIONAL)}",
            )
        ]
    problems: list[Diagnostic] = []
    staff: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        person = {h: (row[i] if i < len(row) else "") for i, h in enumerate(header) if h}
        bad = False
        for column in STAFF_REQUIRED:
            if not person[column]:
                i = header.index(column)
                problems.append(
                    Diagnostic(
                        p,
                        line,
                        cell_col(row, i),
                        "RB502",
                        f"row has no {column}",
                        f"every person needs {', '.join(STAFF_REQUIRED)}",
                    )
                )
                bad = True
        if person["team"] and person["team"] not in spec.teams:
            problems.append(
                Diagnostic(
                    p,
                    line,
                    cell_col(row, header.index("team")),
                    "RB503",
                    f'unknown team "{person["team"]}" for {person["id"] or "this person"}',
                    did_you_mean(person["team"], spec.teams) or f"teams in site.yaml: {', '.join(spec.teams)}",
                )
            )
            bad = True
        if person["id"] and not STAFF_ID.fullmatch(person["id"]):
            problems.append(
                Diagnostic(
                    p,
                    line,
                    1,
                    "RB512",
                    f"bad staff id {person['id']!r}",
                    "a staff id is letters, digits, '_', '.' or '-', starting with a letter or digit (X0001)",
                )
            )
            bad = True
        for column, problem in _contact_problems(person):
            problems.append(Diagnostic(p, line, cell_col(row, header.index(column)), "RB513", problem))
            bad = True
        if person["id"] in seen:
            problems.append(
                Diagnostic(
                    p, line, 1, "RB504", f'duplicate staff id "{person["id"]}" (first at line {seen[person["id"]]})'
                )
            )
            bad = True
        elif person["id"]:
            seen[person["id"]] = line
        if not bad:
            staff.append(person)
    return staff, problems


def _load_pool(directory: Path, doc: Document, pool_id: str, spec: PoolSpec) -> tuple[Pool | None, list[Diagnostic]]:
    path = directory / spec.file
    if not path.is_file() or not path.resolve().is_relative_to(directory.resolve()):
        return None, [
            doc.diagnostic(
                ("pools", pool_id, "file"), "RB506", f'pool file "{spec.file}" not found in the site directory'
            )
        ]
    header, rows = read_csv(path)
    p = str(path)
    missing = [c for c in (spec.key, "status") + (("quantity",) if spec.consumable else ()) if c not in header]
    if missing:
        return None, [
            Diagnostic(
                p,
                1,
                1,
                "RB501",
                f"{spec.file} has no column {', '.join(missing)}",
                f"a pool needs its key column ({spec.key}) and status",
            )
        ]
    problems: list[Diagnostic] = []
    seen: dict[str, int] = {}
    out = []
    key_index = header.index(spec.key)
    for line, row in rows:
        item = {h: (row[i] if i < len(row) else "") for i, h in enumerate(header) if h}
        key = item[spec.key]
        if not key:
            problems.append(Diagnostic(p, line, cell_col(row, key_index), "RB502", f"row has no {spec.key}"))
        elif key in seen:
            problems.append(
                Diagnostic(
                    p,
                    line,
                    cell_col(row, key_index),
                    "RB505",
                    f'duplicate {spec.key} "{key}" in pool {pool_id} (first at line {seen[key]})',
                )
            )
        elif spec.consumable and not item.get("quantity", "").isdigit():
            column = header.index("quantity")
            problems.append(
                Diagnostic(
                    p,
                    line,
                    cell_col(row, column),
                    "RB553",
                    f'quantity "{item.get("quantity", "")}" of {key} in pool {pool_id} is not a whole number',
                    "a consumable pool's quantity is a count: 0, 12, 300",
                )
            )
        else:
            seen[key] = line
            out.append(item)
    for kind in spec.min if spec.consumable else ():
        if kind not in seen:
            problems.append(
                doc.diagnostic(
                    ("pools", pool_id, "min", kind),
                    "RB554",
                    f'min names item "{kind}", which pool {pool_id} does not have',
                    did_you_mean(kind, seen) or f"items: {', '.join(seen) or 'none'}",
                    key=True,
                )
            )
    minimum = tuple(sorted(spec.min.items())) if spec.consumable else ()
    return Pool(pool_id, spec.key, tuple(h for h in header if h), tuple(out), spec.consumable, minimum), problems
