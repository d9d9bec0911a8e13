"""Validate stage: Document (+ Runbook model, + optional Site) → every semantic problem, located.

Checks objectives, targets and every `${{ }}` expression against what is in scope where it
stands; with a site, also teams, pools, channels and people. The step graph's checks are
runbooks/graph.py's (they run even when the shape is invalid).
"""

from __future__ import annotations

from typing import Any

from .diagnostics import Diagnostic, did_you_mean
from .expressions import Scope, StepShape, check_expression, find_expressions, infer_shape, single_expression
from .graph import streaming_source, upstream_of
from .loan_checks import check_loan
from .models import EVENTS, HUMAN_KINDS, KIND_OUTPUTS, MESSAGE_VARS, InputSpec, Runbook
from .shift_checks import check_shifts
from .sites import Site
from .source import Document

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


class _Checker:
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
        """Check every expression in a value (recursing into lists and mappings)."""
        if isinstance(value, str):
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


def check_runbook(doc: Document, runbook: Runbook, site: Site | None = None) -> list[Diagnostic]:
    c = _Checker(doc, runbook, site)
    head = c.scope(steps=None, run=False)
    if runbook.trigger and isinstance(runbook.trigger.if_, str):
        c.strings(runbook.trigger.if_, ("trigger", "if"), head)
    for name, spec in runbook.inputs.items():
        _check_input_default(c, name, spec)
    step_ids = [s.id for s in runbook.steps]
    seen: set[str] = set()
    for i, obj in enumerate(runbook.objectives):
        if obj.id in seen:
            c.add(("objectives", i, "id"), "RB301", f'duplicate objective id "{obj.id}"')
        seen.add(obj.id)
        if obj.coverage is not None:
            c.problems += check_coverage_objective(c.doc, i, obj.coverage, runbook, c.site)
            continue
        key = "count" if obj.count else "ratio"
        ref = obj.count or obj.ratio
        if ref not in step_ids:
            c.add(
                ("objectives", i, key),
                "RB304",
                f'objective "{obj.id}" {key}s step "{ref}", which does not exist',
                did_you_mean(str(ref), step_ids),
            )
        if isinstance(obj.target, str):
            c.strings(obj.target, ("objectives", i, "target"), head)
        if obj.options is not None and ref in step_ids:
            _check_objective_options(c, i, obj.id, obj.options, runbook.steps[step_ids.index(ref)])
    whole = c.scope(steps=c.shapes)
    message = c.scope(steps=c.shapes, item_vars=MESSAGE_VARS)
    for tid, text in runbook.templates.items():
        c.strings(text, ("templates", tid), message)
    for i, rule in enumerate(runbook.notify):
        for j, target in enumerate(rule.to):
            c.target(target, ("notify", i, "to", j), whole, notify_only=True)
        _message(c, ("notify", i), rule, message)
    upstream = upstream_of(runbook)
    kinds = {s.id: s.kind for s in runbook.steps}
    for i, step in enumerate(runbook.steps):
        source = streaming_source(step, kinds)
        _check_step(c, i, step, upstream.get(step.id, frozenset()) | ({source} if source else set()))
    return c.problems


def check_coverage_objective(
    doc: Document, i: int, queue: str, runbook: Runbook, site: Site | None
) -> list[Diagnostic]:
    """A coverage objective names a queue of the site (RB405), and that queue's supply names
    steps of this runbook with their `people` fields (RB511, located in site.yaml)."""
    if site is None:
        return []
    if queue not in site.service:
        return [
            doc.diagnostic(
                ("objectives", i, "coverage"),
                "RB405",
                f'site "{site.id}" has no service queue "{queue}"',
                did_you_mean(queue, site.service) or f"queues: {', '.join(site.service) or 'none'}",
            )
        ]
    steps = {s.id: s for s in runbook.steps}
    problems = []
    q = site.service[queue]
    names = [(s.step, s.field, s.where) for s in q.supply]
    if q.per_item is not None:
        names.append((q.per_item[0], None, q.demand_where))
    for step_id, field, (path, line, col) in names:
        step = steps.get(step_id)
        if step is None:
            why = f'queue "{queue}" counts step "{step_id}", which runbook "{runbook.id}" does not have'
            hint = did_you_mean(step_id, steps) or f"steps: {', '.join(steps)}"
        elif field is not None and getattr(getattr(step, "fields", {}).get(field), "type", None) != "people":
            why = f'queue "{queue}" counts field "{field}" of step "{step_id}", which is not a people field there'
            hint = f"declare it: fields: {{{field}: {{type: people}}}}"
        else:
            continue
        problems.append(Diagnostic(path, line, col, "RB511", why, hint))
    return problems


def _check_objective_options(c: _Checker, i: int, oid: str, options: list[str], step: Any) -> None:
    """A ratio's `options:` name answers of the roll call it measures."""
    if step.kind != "muster":
        message = f'objective "{oid}" has options: but "{step.id}" is not a roll call'
        c.add(("objectives", i, "options"), "RB307", message)
        return
    for j, option in enumerate(options):
        if option not in step.options:
            c.add(
                ("objectives", i, "options", j),
                "RB307",
                f'objective "{oid}": "{option}" is not an answer of roll call "{step.id}"',
                did_you_mean(option, list(step.options)) or f"answers: {', '.join(step.options)}",
            )


def _check_input_default(c: _Checker, name: str, spec: InputSpec) -> None:
    if spec.default is None:
        return
    types: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "integer": int,
        "number": (int, float),
        "boolean": bool,
        "choice": str,
    }
    expected = types[spec.type]
    ok = isinstance(spec.default, expected) and not (
        spec.type in ("integer", "number") and isinstance(spec.default, bool)
    )
    if not ok:
        c.add(("inputs", name, "default"), "RB306", f'default of input "{name}" is not {spec.type}')
    elif spec.type == "choice" and spec.default not in (spec.options or []):
        c.add(
            ("inputs", name, "default"),
            "RB306",
            f'default "{spec.default}" is not one of the options',
            f"options: {', '.join(spec.options or [])}",
        )


def _check_step(c: _Checker, i: int, step: Any, upstream: frozenset[str]) -> None:
    loc = ("steps", i)
    items = frozenset({step.as_}) if step.for_each is not None else frozenset()
    outer = c.scope(steps=c.shapes, upstream=upstream)
    inner = c.scope(steps=c.shapes, upstream=upstream, item_vars=items)
    if step.for_each is None:
        for field, key in (("as_", "as"), ("key", "key")):
            if field in step.model_fields_set:
                c.add(loc + (key,), "RB107", f"{key}: has no effect without for_each:", key=True)
    elif isinstance(step.for_each, str):
        expr = single_expression(step.for_each)
        if expr is None:
            c.add(
                loc + ("for_each",),
                "RB208",
                "for_each must be a list or one expression giving a list",
                'for_each: "${{ site.staff }}"',
            )
        else:
            c.strings(step.for_each, loc + ("for_each",), outer)
            shape = infer_shape(expr, outer)
            if shape not in (None, "list"):
                c.add(
                    loc + ("for_each",),
                    "RB208",
                    f"for_each gives {'a single value' if shape == 'scalar' else 'a mapping'}, not a list",
                    "iterate over a list: site.staff, a muster's answers.<option>, or a filter ending in | list",
                )
    if step.key is not None:
        c.strings(step.key, loc + ("key",), inner)
    for name, spec in (getattr(step, "fields", None) or {}).items():  # a people field's options
        if spec.type == "people" and isinstance(spec.options, str):
            c.strings(spec.options, loc + ("fields", name, "options"), inner)
    if isinstance(step.if_, str):
        c.strings(step.if_, loc + ("if",), inner)
    if step.name:
        c.strings(step.name, loc + ("name",), inner)
    if step.owner is not None:
        c.target(step.owner, loc + ("owner",), inner)
    elif step.kind in HUMAN_KINDS - {"muster"} or (step.kind == "allocate" and step.handover):
        c.add(
            loc,
            "RB102",
            f'step "{step.id}" ({step.kind}) needs an owner: someone must act on it',
            "owner: team:<id>, role:manager or person:<id>",
            key=True,
        )
    if step.escalate is not None:
        c.target(step.escalate.to, loc + ("escalate", "to"), inner, notify_only=True, allow_owner=True)
    CHECKS.get(step.kind, lambda *a: None)(c, loc, step, inner)


def _muster(c: _Checker, loc: tuple, step: Any, scope: Scope) -> None:
    if isinstance(step.audience, str):
        c.strings(step.audience, loc + ("audience",), scope)
    elif c.site is not None:
        for j, person in enumerate(step.audience):
            if c.site.person(person) is None:
                c.add(loc + ("audience", j), "RB404", f'site "{c.site.id}" has no person "{person}" in staff.csv')
    c.strings(step.question, loc + ("question",), scope)


def _manual(c: _Checker, loc: tuple, step: Any, scope: Scope) -> None:
    _draws(c, loc, step, scope)
    if step.returns is not None and c.site is not None and step.returns not in c.site.pools:
        c.add(
            loc + ("returns",),
            "RB402",
            f'site "{c.site.id}" has no pool "{step.returns}"',
            did_you_mean(step.returns, c.site.pools) or f"pools: {', '.join(c.site.pools) or 'none'}",
        )


def _draws(c: _Checker, loc: tuple, step: Any, scope: Scope) -> None:
    for pool_id, items in step.draws.items():
        for item, value in items.items():
            if isinstance(value, str):
                c.strings(value, loc + ("draws", pool_id, item), scope)
        if c.site is None:
            continue
        pool = c.site.pools.get(pool_id)
        if pool is None:
            c.add(
                loc + ("draws", pool_id),
                "RB402",
                f'site "{c.site.id}" has no pool "{pool_id}"',
                did_you_mean(pool_id, c.site.pools) or f"pools: {', '.join(c.site.pools) or 'none'}",
                key=True,
            )
        elif not pool.consumable:
            c.add(
                loc + ("draws", pool_id),
                "RB555",
                f'step "{step.id}" draws from pool "{pool_id}", which is not consumable',
                "draw from a pool with consumable: true in site.yaml; items like laptops are allocated",
                key=True,
            )


def _allocate(c: _Checker, loc: tuple, step: Any, scope: Scope) -> None:
    if c.site is not None and step.pool not in c.site.pools:
        c.add(
            loc + ("pool",),
            "RB402",
            f'site "{c.site.id}" has no pool "{step.pool}"',
            did_you_mean(step.pool, c.site.pools) or f"pools: {', '.join(c.site.pools) or 'none'}",
        )


def _http(c: _Checker, loc: tuple, step: Any, scope: Scope) -> None:
    _request(c, loc + ("with",), step.with_, scope)


def _request(c: _Checker, loc: tuple, request: Any, scope: Scope) -> None:
    """An http request (`with:` of http and grant, a grant's `revoke:` and `verify:`)."""
    with_scope = Scope(**{**scope.__dict__, "env": True})
    c.strings(request.model_dump(by_alias=True, exclude={"expect", "timeout", "method"}), loc, with_scope)
    if (
        single_expression(request.url) is None
        and not request.url.split("${{")[0].startswith(("http://", "https://"))
        and not request.url.startswith("${{")
    ):
        c.add(
            loc + ("url",),
            "RB107",
            f'url "{request.url}" is not an http(s) URL',
            'start with https:// or an expression: "${{ env.IAM_URL }}/grants"',
        )


def _grant(c: _Checker, loc: tuple, step: Any, scope: Scope) -> None:
    _request(c, loc + ("with",), step.with_, scope)
    # revoke/verify run later (expiry, stand-down): they see the item and the grant's outputs.
    later = Scope(**{**scope.__dict__, "item_vars": scope.item_vars | {"grant"}})
    if step.revoke is None:
        c.add(
            loc + ("kind",),
            "RB550",
            f'grant step "{step.id}" has no revoke: request: a grant nobody can take back',
            'revoke: {method: DELETE, url: "${{ env.IAM_URL }}/grants/${{ grant.iam_id }}"}',
            key=True,
        )
    else:
        _request(c, loc + ("revoke",), step.revoke, later)
    if step.verify is not None:
        _request(c, loc + ("verify",), step.verify, later)


def _checkin(c: _Checker, loc: tuple, step: Any, scope: Scope) -> None:
    for qid, question in step.questions.items():
        texts = question.text.values() if isinstance(question.text, dict) else [question.text]
        for text in texts:
            c.strings(text, loc + ("questions", qid, "text"), scope)
        if not question.options:
            c.add(
                loc + ("questions", qid),
                "RB552",
                f'check-in question "{qid}" of step "{step.id}" has no options: people answer by choosing one',
                "options: {normal: Normal, high: 37.3 or more}",
                key=True,
            )
    for qid, wanted in step.flag.items():
        if qid not in step.questions:
            c.add(
                loc + ("flag", qid),
                "RB205",
                f'flag names question "{qid}", which step "{step.id}" does not ask',
                did_you_mean(qid, step.questions) or f"questions: {', '.join(step.questions)}",
                key=True,
            )
            continue
        options = step.questions[qid].options
        for answer in [wanted] if isinstance(wanted, str) else wanted:
            if options and answer not in options:
                c.add(
                    loc + ("flag", qid),
                    "RB205",
                    f'flag: question "{qid}" has no answer "{answer}"',
                    did_you_mean(answer, options) or f"answers: {', '.join(options)}",
                )


def _notify(c: _Checker, loc: tuple, step: Any, scope: Scope) -> None:
    for j, target in enumerate(step.to):
        c.target(target, loc + ("to", j), scope, notify_only=True)
    _message(c, loc, step, Scope(**{**scope.__dict__, "item_vars": scope.item_vars | MESSAGE_VARS}))


def _message(c: _Checker, loc: tuple, spec: Any, scope: Scope) -> None:
    """A notify rule's or step's body: an inline message (checked like any expression) or a
    template: a built-in event template or one of the runbook's `templates:`."""
    if spec.message:
        c.strings(spec.message, loc + ("message",), scope)
    if spec.template is not None and spec.template not in c.runbook.templates and spec.template not in EVENTS:
        known = sorted(c.runbook.templates) + list(EVENTS)
        c.add(
            loc + ("template",),
            "RB210",
            f'unknown template "{spec.template}"',
            did_you_mean(spec.template, known)
            or "name one of the runbook's templates: or an event (its built-in template, e.g. task.assigned)",
        )


def _wait(c: _Checker, loc: tuple, step: Any, scope: Scope) -> None:
    if step.until is not None:
        c.strings(step.until, loc + ("until",), scope)


def _shifts(c: _Checker, loc: tuple, step: Any, scope: Scope) -> None:
    if isinstance(step.from_, str):
        c.strings(step.from_, loc + ("from",), scope)
    defaults = {name: spec.default for name, spec in c.runbook.inputs.items()}
    for where, code, message, hint in check_shifts(step, c.site, defaults):
        c.add(loc + where, code, message, hint)


def _loan(c: _Checker, loc: tuple, step: Any, scope: Scope) -> None:
    for key in ("from_", "agents", "start", "end", "reason"):
        value = getattr(step, key)
        if isinstance(value, str):
            c.strings(value, loc + (key.rstrip("_"),), scope)
    defaults = {name: spec.default for name, spec in c.runbook.inputs.items()}
    for where, code, message, hint in check_loan(step, c.site, defaults):
        c.add(loc + where, code, message, hint)


CHECKS = {
    "loan": _loan,
    "shifts": _shifts,
    "manual": _manual,
    "muster": _muster,
    "allocate": _allocate,
    "http": _http,
    "grant": _grant,
    "checkin": _checkin,
    "notify": _notify,
    "wait": _wait,
}
