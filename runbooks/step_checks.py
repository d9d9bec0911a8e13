"""The checks of each step kind's own fields (`CHECKS`, by kind), called by the validator
(runbooks/validate.py) for every step with its scope; loans and shifts have theirs in
runbooks/loan_checks.py and runbooks/shift_checks.py."""

from __future__ import annotations

from typing import Any

from .checker import Checker
from .diagnostics import did_you_mean
from .expressions import Scope, single_expression
from .loan_checks import check_loan
from .models import EVENTS, MESSAGE_VARS
from .shift_checks import check_shifts


def _muster(c: Checker, loc: tuple, step: Any, scope: Scope) -> None:
    if isinstance(step.audience, str):
        c.strings(step.audience, loc + ("audience",), scope)
    elif c.site is not None:
        for j, person in enumerate(step.audience):
            if c.site.person(person) is None:
                c.add(loc + ("audience", j), "RB404", f'site "{c.site.id}" has no person "{person}" in staff.csv')
    c.strings(step.question, loc + ("question",), scope)


def _manual(c: Checker, loc: tuple, step: Any, scope: Scope) -> None:
    _draws(c, loc, step, scope)
    if step.returns is not None and c.site is not None and step.returns not in c.site.pools:
        c.add(
            loc + ("returns",),
            "RB402",
            f'site "{c.site.id}" has no pool "{step.returns}"',
            did_you_mean(step.returns, c.site.pools) or f"pools: {', '.join(c.site.pools) or 'none'}",
        )


def _draws(c: Checker, loc: tuple, step: Any, scope: Scope) -> None:
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


def _allocate(c: Checker, loc: tuple, step: Any, scope: Scope) -> None:
    if c.site is not None and step.pool not in c.site.pools:
        c.add(
            loc + ("pool",),
            "RB402",
            f'site "{c.site.id}" has no pool "{step.pool}"',
            did_you_mean(step.pool, c.site.pools) or f"pools: {', '.join(c.site.pools) or 'none'}",
        )


def _http(c: Checker, loc: tuple, step: Any, scope: Scope) -> None:
    _request(c, loc + ("with",), step.with_, scope)


def _request(c: Checker, loc: tuple, request: Any, scope: Scope) -> None:
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


def _grant(c: Checker, loc: tuple, step: Any, scope: Scope) -> None:
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


def _checkin(c: Checker, loc: tuple, step: Any, scope: Scope) -> None:
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


def _notify(c: Checker, loc: tuple, step: Any, scope: Scope) -> None:
    for j, target in enumerate(step.to):
        c.target(target, loc + ("to", j), scope, notify_only=True)
    check_message(c, loc, step, Scope(**{**scope.__dict__, "item_vars": scope.item_vars | MESSAGE_VARS}))


def check_message(c: Checker, loc: tuple, spec: Any, scope: Scope) -> None:
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


def _wait(c: Checker, loc: tuple, step: Any, scope: Scope) -> None:
    if step.until is not None:
        c.strings(step.until, loc + ("until",), scope)


def _shifts(c: Checker, loc: tuple, step: Any, scope: Scope) -> None:
    if isinstance(step.from_, str):
        c.strings(step.from_, loc + ("from",), scope)
    defaults = {name: spec.default for name, spec in c.runbook.inputs.items()}
    for where, code, message, hint in check_shifts(step, c.site, defaults):
        c.add(loc + where, code, message, hint)


def _loan(c: Checker, loc: tuple, step: Any, scope: Scope) -> None:
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
