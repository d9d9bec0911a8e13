"""Actors: who acts (an account, or the local operator on behalf of a roster member) → what they
may do to a task (own it, override it with a reason, or nothing)."""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# "staff": a roster member without an account, acted for by the local operator (--as).
ROLES = ("viewer", "team_lead", "manager", "admin", "gateway", "operator", "staff")


@dataclass(frozen=True)
class Actor:
    name: str  # account name, or "os:<user>" for the local operator
    role: str
    teams: frozenset[tuple[str, str]] = field(default_factory=frozenset)  # (site id, team id) they lead
    staff_id: str | None = None
    on_behalf: bool = False  # the local operator acting as a roster member (--as)
    sites: frozenset[str] = field(default_factory=frozenset)  # a manager tied to sites (none: global)

    def acts_on(self, site_id: str) -> bool:
        """A manager tied to sites acts on those sites only; anyone else as their role allows."""
        return not self.sites or site_id in self.sites

    @property
    def identity(self) -> str:
        """Who this is for four-eyes checks: the person if known, else the account."""
        return self.staff_id or self.name

    @property
    def label(self) -> str:
        """How the audit names them."""
        return f"{self.name} as {self.staff_id}" if self.on_behalf else self.name

    @property
    def manages(self) -> bool:
        return self.role in ("manager", "operator")


def local_operator(as_staff: str | None = None, site: Mapping[str, Any] | None = None) -> Actor:
    """The CLI on the local store: full rights, or a roster member's rights with --as."""
    user = f"os:{getpass.getuser()}"
    if as_staff is None:
        return Actor(user, "operator")
    person = next((p for p in (site or {}).get("staff", []) if p["id"] == as_staff), None)
    if person is None:
        from .errors import Invalid

        raise Invalid(f'--as {as_staff}: no such person on the roster of site "{(site or {}).get("id")}"')
    return person_actor(user, person, site or {}, on_behalf=True)


def person_actor(name: str, person: Mapping[str, Any], site: Mapping[str, Any], *, on_behalf: bool = False) -> Actor:
    led = frozenset((site["id"], tid) for tid, team in site.get("teams", {}).items() if person["id"] in team["leads"])
    role = "manager" if person.get("role") == "manager" else ("team_lead" if led else "staff")
    return Actor(name, role, led, person["id"], on_behalf)


def ownership(actor: Actor, owner: str | None, site_id: str) -> str:
    """'own', 'override' (allowed with a reason) or 'deny'."""
    if actor.role == "operator":
        return "own"
    if not actor.acts_on(site_id):
        return "deny"  # a manager tied to other sites
    kind, _, name = (owner or "").partition(":")
    if kind == "person" and actor.staff_id == name and actor.role != "gateway":
        return "own"  # a task owned by a person is theirs, whatever their account's role
    if actor.role in ("viewer", "gateway", "admin", "staff"):
        return "deny"
    if kind == "team" and (site_id, name) in actor.teams:
        return "own"
    if kind == "role" and actor.role == name:
        return "own"
    return "override" if actor.role == "manager" else "deny"
