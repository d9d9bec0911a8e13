"""The validator's checker (runbooks/validate.py, runbooks/step_checks.py): a runbook's step
shapes, and a `Checker` that collects located diagnostics — every `${{ }}` expression in a value
checked against what is in scope where it stands, and targets (team:, role:, person:,
channel:) against the site."""

from __future__ import annotations

from typing import Any

from .diagnostics import Diagnostic, did_you_mean
from .expressions import Scope, StepShape, check_expression, find_expressions, single_expression
from .models import KIND_OUTPUTS, Runbook
from .sites import Site
from .source import Document
from .texts import Texts

ACCOUNT_ROLES = ("viewer", "team_lead", "manager", "admin")
TARGET_KINDS = ("team", "role", "person", "channel")


# --- expressions and targets ------------------------------------------------------------------


def step_shapes(runbook: Runbook, site: Site | None) -> dict[str, StepShape]:
    shapes = {}
    for s in runbook.steps:
        declared = KIND_OUTPUTS[s.kind]
        outputs: frozenset[str] | None = declared
        answers: frozenset[str] | None = None
        if s.kind == "manual":
            outputs = declared | frozenset(s.fields)
        elif s.kind == "muster":
            answers = frozenset(s.options)
        elif s.kind == "allocate":
            pool = site.pools.get(s.pool) if site else None
            outputs = declared | frozenset(pool.columns) if pool else None
        shapes[s.id] = StepShape(s.kind, outputs, answers, s.for_each is not None)
    return shapes


class Checker:
    def __init__(self, doc: Document, runbook: Runbook, site: Site | None):
        self.doc, self.runbook, self.site = doc, runbook, site
        self.problems: list[Diagnostic] = []
        self.inputs = frozenset(runbook.inputs)
        self.shapes = step_shapes(runbook, site)
        self.teams = frozenset(site.teams) if site else None
        self.pools = frozenset(site.pools) if site else None

    def scope(self, **kw: Any) -> Scope:
        kw.setdefault("inputs", self.inputs)
        return Scope(site_teams=self.teams, site_pools=self.pools, **kw)

    def strings(self, value: Any, loc: tuple, scope: Scope) -> None:
        """Check every expression in a value (recursing into lists and mappings, and into each
        language of a bilingual text, located at its language key)."""
        if isinstance(value, Texts):
            for lang, text in value.by_lang.items():
                self.strings(text, loc + (lang,), scope)
        elif isinstance(value, str):
            found_all = find_expressions(value)
            for found in found_all:
                for p in check_expression(found.inner, scope):
                    self.problems.append(
                        self.doc.diagnostic(
                            loc, p.code, p.message, p.hint, offset=found.start, width=found.end - found.start
                        )
                    )
            unclosed = _unclosed(value, found_all)
            if unclosed is not None:
                self.problems.append(
                    self.doc.diagnostic(
                        loc,
                        "RB201",
                        "expression is not closed: ${{ without }}",
                        "write ${{ name }}",
                        offset=unclosed,
                        width=3,
                    )
                )
        elif isinstance(value, dict):
            for k, v in value.items():
                self.strings(v, loc + (k,), scope)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self.strings(v, loc + (i,), scope)

    def target(
        self, value: str, loc: tuple, scope: Scope, *, notify_only: bool = False, allow_owner: bool = False
    ) -> None:
        if single_expression(value) is not None:
            self.strings(value, loc, scope)
            return
        if value == "owner" and allow_owner:
            return
        kind, sep, name = value.partition(":")
        kinds = [k for k in TARGET_KINDS if notify_only or k != "channel"]
        if not sep or kind not in kinds or not name:
            hint = (
                "targets: "
                + ", ".join(f"{k}:<id>" for k in kinds)
                + (", owner" if allow_owner else "")
                + ", or an expression giving a person"
            )
            self.add(loc, "RB305", f'bad target "{value}"', hint)
        elif kind == "role" and name not in ACCOUNT_ROLES:
            self.add(
                loc,
                "RB305",
                f'unknown role "{name}"',
                did_you_mean(name, ACCOUNT_ROLES) or f"roles: {', '.join(ACCOUNT_ROLES)}",
            )
        elif self.site is None:
            return
        elif kind == "team" and name not in self.site.teams:
            self.add(
                loc,
                "RB401",
                f'site "{self.site.id}" has no team "{name}"',
                did_you_mean(name, self.site.teams) or f"teams: {', '.join(self.site.teams)}",
            )
        elif kind == "person" and self.site.person(name) is None:
            self.add(loc, "RB404", f'site "{self.site.id}" has no person "{name}" in staff.csv')
        elif kind == "channel" and name not in self.site.channels:
            self.add(
                loc,
                "RB403",
                f'site "{self.site.id}" has no channel "{name}"',
                did_you_mean(name, self.site.channels) or f"channels: {', '.join(self.site.channels) or 'none'}",
            )

    def add(self, loc: tuple, code: str, message: str, hint: str | None = None, **kw: Any) -> None:
        self.problems.append(self.doc.diagnostic(loc, code, message, hint, **kw))


def _unclosed(text: str, found: list) -> int | None:
    """Offset of a `${{` that no expression closes, if any (it would otherwise stay text)."""
    spans = [(f.start, f.end) for f in found]
    at = text.find("${{")
    while at != -1:
        if not any(start <= at < end for start, end in spans):
            return at
        at = text.find("${{", at + 1)
    return None
