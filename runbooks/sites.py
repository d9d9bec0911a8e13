"""Sites stage: a site directory (site.yaml, staff.csv, pool CSVs) → a frozen `Site`, or located errors.

A `Site` is also what a run stores as its snapshot (`Site.snapshot()` / `Site.from_snapshot()`),
so a run keeps the roster and pools it started with. Channel settings keep their
`${{ env.NAME }}` text: secrets are resolved only when a message is sent, never stored.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .diagnostics import Diagnostic, RunbookError, did_you_mean
from .expressions import Scope, check_expression, find_expressions
from .service import Queue, load_service
from .shape import validate_model
from .site_files import Pool, load_pool, load_staff
from .site_spec import SiteSpec
from .source import Document, load_document
from .texts import text_json, text_of

SMS_VARS = frozenset({"to", "recipients", "text", "id"})


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
        return self.people.get(staff_id)

    @functools.cached_property
    def people(self) -> dict[str, dict[str, str]]:
        """The roster by id (ids are unique: load_staff refuses a repeated one), built once."""
        return {p["id"]: p for p in self.staff}

    def context(self) -> dict[str, Any]:
        """The `site` of the expression context. Its people and pool rows are the site's own
        (as `staff` and `person()` hand them out, never changed: expressions render in an
        immutable sandbox), so building it does not copy 10,000 roster rows each time."""
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "timezone": self.timezone,
            "lang": self.lang,
            "teams": self.teams,
            "staff": list(self.staff),
            "pools": {pid: list(p.rows) for pid, p in self.pools.items()},
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
    staff, staff_problems = load_staff(directory / "staff.csv", spec)
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
        pool, pool_problems = load_pool(directory, doc, pool_id, pool_spec)
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
