"""Sign-in map: the `RUNBOOK_OIDC_MAP` YAML file → `ClaimMap` (which claims carry the groups,
the staff id and the account name; each group's role, teams and sites), or located diagnostics
RB570–RB573 (docs/diagnostics.md); and a provider's claims → the `Rights` they give: the highest
role of the mapped groups, their teams and sites added up (docs/deploy.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runbooks.diagnostics import Diagnostic, RunbookError, did_you_mean
from runbooks.source import Document, load_document

# Highest wins. `gateway` is not here: it is for the SMS gateway's token, never for a person.
RANK = ("viewer", "team_lead", "manager", "admin")
TOP_KEYS = ("groups_claim", "staff_id_claim", "name_claim", "groups")
GROUP_KEYS = ("role", "teams", "sites")


@dataclass(frozen=True)
class Grant:
    """What one group at the provider gives."""

    role: str
    teams: tuple[tuple[str, str], ...] = ()
    sites: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClaimMap:
    groups_claim: str
    staff_id_claim: str | None
    name_claim: str
    groups: dict[str, Grant]


@dataclass(frozen=True)
class Rights:
    """What a person's claims give: `role` None when none of their groups maps (no rights)."""

    role: str | None
    teams: tuple[tuple[str, str], ...]
    sites: tuple[str, ...]
    groups: tuple[str, ...]  # the groups that mapped
    staff_id: str | None

    def shape(self) -> dict[str, Any]:
        """As the audit records it."""
        return {
            "role": self.role,
            "teams": ["/".join(t) for t in self.teams],
            "sites": list(self.sites),
            "staff": self.staff_id,
        }


def load_claim_map(path: str | Path) -> ClaimMap:
    """The map file, checked (sites and teams against the site library), or RunbookError."""
    doc = load_document(path)
    problems: list[Diagnostic] = []
    data: dict[str, Any] = doc.data
    for key in data:
        if key not in TOP_KEYS:
            problems.append(_unknown(doc, (key,), key, TOP_KEYS))
    groups_claim = _string(doc, data, "groups_claim", "groups", problems)
    staff_claim = _string(doc, data, "staff_id_claim", None, problems)
    name_claim = _string(doc, data, "name_claim", "preferred_username", problems)
    raw = data.get("groups")
    grants: dict[str, Grant] = {}
    if raw is None:
        problems.append(
            doc.diagnostic((), "RB570", "the map has no `groups:`", "add `groups: {bcm-managers: {role: manager}}`")
        )
    elif not isinstance(raw, dict):
        problems.append(doc.diagnostic(("groups",), "RB573", "`groups:` is a mapping of group → {role, teams, sites}"))
    else:
        for group, spec in raw.items():
            grant = _grant(doc, str(group), spec, problems)
            if grant is not None:
                grants[str(group)] = grant
    if problems:
        raise RunbookError(problems)
    return ClaimMap(groups_claim or "groups", staff_claim, name_claim or "preferred_username", grants)


def _unknown(doc: Document, loc: tuple, key: str, choices: tuple[str, ...]) -> Diagnostic:
    return doc.diagnostic(
        loc,
        "RB570",
        f'unknown key "{key}" (keys: {", ".join(choices)})',
        did_you_mean(str(key), choices),
        key=True,
    )


def _string(doc: Document, data: dict, key: str, default: str | None, problems: list[Diagnostic]) -> str | None:
    value = data.get(key, default)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        problems.append(doc.diagnostic((key,), "RB573", f"`{key}` is the name of a claim (a string), got {value!r}"))
        return None
    return value


def _grant(doc: Document, group: str, spec: Any, problems: list[Diagnostic]) -> Grant | None:
    loc = ("groups", group)
    if not isinstance(spec, dict):
        problems.append(
            doc.diagnostic(loc, "RB573", f'group "{group}": write {{role: ROLE, teams: [...], sites: [...]}}')
        )
        return None
    before = len(problems)
    for key in spec:
        if key not in GROUP_KEYS:
            problems.append(_unknown(doc, (*loc, key), key, GROUP_KEYS))
    role = spec.get("role")
    if role is None:
        problems.append(doc.diagnostic(loc, "RB570", f'group "{group}" has no `role:`', f"roles: {', '.join(RANK)}"))
    elif role not in RANK:
        hint = did_you_mean(str(role), RANK) or f"roles: {', '.join(RANK)}"
        problems.append(doc.diagnostic((*loc, "role"), "RB571", f'group "{group}": unknown role "{role}"', hint))
    teams = [
        _team(doc, (*loc, "teams", i), t, problems) for i, t in enumerate(_list(doc, spec, loc, "teams", problems))
    ]
    sites = [
        _site(doc, (*loc, "sites", i), s, problems) for i, s in enumerate(_list(doc, spec, loc, "sites", problems))
    ]
    if len(problems) > before:
        return None
    return Grant(str(role), tuple(t for t in teams if t), tuple(s for s in sites if s))


def _list(doc: Document, spec: dict, loc: tuple, key: str, problems: list[Diagnostic]) -> list[Any]:
    value = spec.get(key, [])
    if not isinstance(value, list):
        problems.append(doc.diagnostic((*loc, key), "RB573", f"`{key}` is a list, e.g. [{value}]"))
        return []
    return value


def _site_teams(site_id: str) -> list[str] | None:
    """The site's teams; None when there is no such site (or it does not load)."""
    from runbooks.library import find_site
    from runbooks.sites import load_site

    try:
        return list(load_site(find_site(site_id, allow_path=False)).teams)
    except Exception:  # noqa: BLE001 - a site that does not load is no site to sign in to
        return None


def _site(doc: Document, loc: tuple, value: Any, problems: list[Diagnostic]) -> str | None:
    if not isinstance(value, str) or _site_teams(value) is None:
        problems.append(doc.diagnostic(loc, "RB572", f"no site {value!r} in the site library"))
        return None
    return value


def _team(doc: Document, loc: tuple, value: Any, problems: list[Diagnostic]) -> tuple[str, str] | None:
    site_id, sep, team = str(value).partition("/")
    if not isinstance(value, str) or not sep:
        problems.append(doc.diagnostic(loc, "RB572", f"team {value!r}: write SITE/TEAM, e.g. xian/it"))
        return None
    teams = _site_teams(site_id)
    if teams is None:
        problems.append(doc.diagnostic(loc, "RB572", f'team "{value}": no site "{site_id}" in the site library'))
        return None
    if team not in teams:
        problems.append(
            doc.diagnostic(
                loc, "RB572", f'team "{value}": site {site_id} has no team "{team}"', did_you_mean(team, teams)
            )
        )
        return None
    return site_id, team


# --- claims → rights ---------------------------------------------------------------------------


def groups_of(claims: dict[str, Any], claim_map: ClaimMap) -> list[str]:
    value = claims.get(claim_map.groups_claim)
    if isinstance(value, str):  # some providers send one group as a string
        value = [value]
    return [str(g) for g in value] if isinstance(value, list) else []


def rights_of(claims: dict[str, Any], claim_map: ClaimMap) -> Rights:
    """The highest role of the mapped groups; teams and sites added up, in the map's order."""
    held = set(groups_of(claims, claim_map))
    mapped = [(g, grant) for g, grant in claim_map.groups.items() if g in held]
    role = max((grant.role for _, grant in mapped), key=RANK.index, default=None)
    teams = tuple(dict.fromkeys(t for _, grant in mapped for t in grant.teams))
    sites = tuple(dict.fromkeys(s for _, grant in mapped for s in grant.sites))
    staff = claims.get(claim_map.staff_id_claim) if claim_map.staff_id_claim else None
    return Rights(
        role,
        teams if role is not None else (),
        sites if role is not None else (),
        tuple(g for g, _ in mapped),
        str(staff) if staff not in (None, "") else None,
    )
