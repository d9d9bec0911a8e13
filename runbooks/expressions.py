"""Expressions stage: `${{ … }}` text → static references (for validation) or values (at run time).

Expressions are jinja2 expressions evaluated in an immutable sandbox with strict undefined
names. A string that is exactly one expression yields the native value (a list, a number);
any other string is text with each expression's value put in its place.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import StrictUndefined, Undefined, nodes
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

EXPR_RE = re.compile(r"\$\{\{(.*?)\}\}", re.S)
_SINGLE_RE = re.compile(r"\$\{\{((?:(?!\}\}).)*)\}\}", re.S)  # one expression: no "}}" inside
ROOTS = ("inputs", "site", "run", "steps", "env")
SITE_FIELDS = frozenset({"id", "name", "kind", "timezone", "lang", "teams", "staff", "pools"})
RUN_FIELDS = frozenset({"id", "drill", "started_at"})
GLOBALS = frozenset({"range", "dict"})
_LIST_FILTERS = frozenset({"list", "selectattr", "rejectattr", "sort", "unique", "map", "batch", "slice"})

# Expressions see data: attributes (methods such as str.split) only of these types, so an
# object that happens to be in the context (a lazy view over the store) shows its items and
# nothing else.
_DATA_TYPES = (str, int, float, bool, list, tuple, dict, type(None))


class _Environment(ImmutableSandboxedEnvironment):
    """`a.b` on YAML data means the key b, even where a dict method has that name
    (`steps.go_live.items` is the items, not dict.items)."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return type(obj) in _DATA_TYPES and super().is_safe_attribute(obj, attr, value)


_ENV = _Environment(undefined=StrictUndefined, autoescape=False)


class ExpressionError(Exception):
    """An expression failed: bad syntax, an unknown name at run time, a sandbox violation."""


@dataclass(frozen=True)
class Found:
    start: int  # offset of "${{" in the string
    end: int
    inner: str


def find_expressions(text: str) -> list[Found]:
    return [Found(m.start(), m.end(), m.group(1)) for m in EXPR_RE.finditer(text)]


def single_expression(text: str) -> str | None:
    """The inner text if `text` is exactly one expression (surrounding spaces allowed)."""
    m = _SINGLE_RE.fullmatch(text.strip())
    return m.group(1) if m else None


@functools.lru_cache(maxsize=4096)
def parse_expression(inner: str) -> nodes.Expr:
    """Parse one expression; raises ExpressionError with jinja's message."""
    try:
        parser = Parser(_ENV, inner, state="variable")
        expr = parser.parse_expression()
        if not parser.stream.eos:
            tok = parser.stream.current
            raise ExpressionError(f"unexpected {tok.value!r} after the expression")
        return expr
    except TemplateSyntaxError as e:
        raise ExpressionError(e.message or "syntax error") from None


@functools.lru_cache(maxsize=4096)
def _compiled(inner: str) -> Callable[..., Any]:
    parse_expression(inner)  # same error messages as validation
    return _ENV.compile_expression(inner, undefined_to_none=False)


def evaluate(inner: str, context: dict[str, Any]) -> Any:
    try:
        result = _compiled(inner)(**context)
        if isinstance(result, Undefined):  # a bare unknown name is returned, not raised
            raise UndefinedError(result._undefined_message)
        if isinstance(result, Iterator):  # selectattr, map... give generators: make them lists
            result = list(result)
        return result
    except UndefinedError as e:
        raise ExpressionError(f"${{{{{inner}}}}}: {e.message}") from None
    except SecurityError as e:
        raise ExpressionError(f"${{{{{inner}}}}}: not allowed: {e}") from None
    except ExpressionError:
        raise
    except Exception as e:  # a filter on the wrong type, a division by zero...
        raise ExpressionError(f"${{{{{inner}}}}}: {type(e).__name__}: {e}") from None


def render_value(value: Any, context: dict[str, Any]) -> Any:
    """Evaluate every expression in a YAML value (recursively through lists and mappings)."""
    if isinstance(value, str):
        if "${{" not in value:
            return value
        inner = single_expression(value)
        if inner is not None:
            return evaluate(inner, context)
        out, last = [], 0
        for f in find_expressions(value):
            out.append(value[last : f.start])
            result = evaluate(f.inner, context)
            out.append("" if result is None else str(result))
            last = f.end
        out.append(value[last:])
        return "".join(out)
    if isinstance(value, dict):
        return {k: render_value(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render_value(v, context) for v in value]
    return value


# --- static checking -------------------------------------------------------------------------


@dataclass(frozen=True)
class StepShape:
    """What an expression may read from `steps.<id>`: declared outputs (None = any)."""

    kind: str
    outputs: frozenset[str] | None
    answers: frozenset[str] | None = None  # a muster's option keys
    fan_out: bool = False


@dataclass
class Scope:
    """The names an expression may use where it stands."""

    inputs: frozenset[str] | None = None  # None: inputs not in scope
    steps: dict[str, StepShape] | None = None
    upstream: frozenset[str] | None = None  # steps that are needs (transitively); None: all
    item_vars: frozenset[str] = frozenset()
    env: bool = False
    site: bool = True
    run: bool = True
    site_teams: frozenset[str] | None = None  # known with --site
    site_pools: frozenset[str] | None = None
    where: str = ""  # "in with:" etc., for messages
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    hint: str | None = None


def _chain(node: nodes.Node) -> tuple[str, tuple] | None:
    parts: list = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            parts.append(node.arg.value)
            node = node.node
        elif isinstance(node, nodes.Name):
            return node.name, tuple(reversed(parts))
        else:
            return None


def references(expr: nodes.Node) -> list[tuple[str, tuple]]:
    """Every maximal name.attr.attr chain read by an expression."""
    found: list[tuple[str, tuple]] = []

    def visit(node: nodes.Node) -> None:
        if isinstance(node, (nodes.Getattr, nodes.Getitem, nodes.Name)):
            chain = _chain(node)
            if chain is not None:
                found.append(chain)
                return
        for child in node.iter_child_nodes():
            visit(child)

    visit(expr)
    return found


def _close(word: str, choices: Iterable[str]) -> str | None:
    from .diagnostics import did_you_mean

    return did_you_mean(str(word), choices)


def check_reference(root: str, path: tuple, scope: Scope) -> Problem | None:
    if root in scope.item_vars or root in GLOBALS:
        return None
    if root == "env":
        if scope.env:
            return None
        return Problem(
            "RB206",
            "env is only allowed in an http step's with: and in channel settings",
            "pass the value through with:, so secrets never reach a page or a log",
        )
    if root == "inputs" and scope.inputs is not None:
        if path and path[0] not in scope.inputs:
            return Problem(
                "RB203", f'unknown input "{path[0]}"', _close(path[0], scope.inputs) or "declare it under inputs:"
            )
        return None
    if root == "site" and scope.site:
        if path and path[0] not in SITE_FIELDS:
            return Problem(
                "RB209",
                f'site has no field "{path[0]}"',
                _close(path[0], SITE_FIELDS) or f"site fields: {', '.join(sorted(SITE_FIELDS))}",
            )
        if len(path) > 1 and path[0] == "teams" and scope.site_teams is not None and path[1] not in scope.site_teams:
            return Problem("RB401", f'site has no team "{path[1]}"', _close(path[1], scope.site_teams))
        if len(path) > 1 and path[0] == "pools" and scope.site_pools is not None and path[1] not in scope.site_pools:
            return Problem("RB402", f'site has no pool "{path[1]}"', _close(path[1], scope.site_pools))
        return None
    if root == "run" and scope.run:
        if path and path[0] not in RUN_FIELDS:
            return Problem("RB202", f'run has no field "{path[0]}"', _close(path[0], RUN_FIELDS))
        return None
    if root == "steps" and scope.steps is not None:
        return _check_step_reference(path, scope)
    allowed = [r for r in ROOTS if _root_allowed(r, scope)] + sorted(scope.item_vars)
    return Problem(
        "RB202", f'unknown name "{root}"', _close(root, allowed) or f"names usable here: {', '.join(allowed)}"
    )


def _root_allowed(root: str, scope: Scope) -> bool:
    return {
        "inputs": scope.inputs is not None,
        "site": scope.site,
        "run": scope.run,
        "steps": scope.steps is not None,
        "env": scope.env,
    }[root]


def _check_step_reference(path: tuple, scope: Scope) -> Problem | None:
    from .models import TASK_ATTRIBUTES

    assert scope.steps is not None
    if not path:
        return None
    step_id = path[0]
    shape = scope.steps.get(step_id)
    if shape is None:
        return Problem(
            "RB204", f'unknown step "{step_id}"', _close(step_id, scope.steps) or f"steps: {', '.join(scope.steps)}"
        )
    if scope.upstream is not None and step_id not in scope.upstream:
        return Problem(
            "RB207",
            f'uses step "{step_id}", which it does not need',
            f'add "{step_id}" to needs:, so its outputs exist when this is evaluated',
        )
    rest = path[1:]
    if rest and rest[0] == "outputs":
        rest = rest[1:]
    elif rest and rest[0] in TASK_ATTRIBUTES:
        return None
    if not rest or shape.outputs is None:
        return None
    name = rest[0]
    if name not in shape.outputs:
        known = sorted(shape.outputs | TASK_ATTRIBUTES)
        return Problem(
            "RB205",
            f'step "{step_id}" ({shape.kind}) has no output "{name}"',
            _close(name, known) or f"its outputs: {', '.join(sorted(shape.outputs)) or 'none'}",
        )
    if name == "answers" and len(rest) > 1 and shape.answers is not None and rest[1] not in shape.answers:
        return Problem(
            "RB205",
            f'muster "{step_id}" has no option "{rest[1]}"',
            _close(rest[1], shape.answers) or f"options: {', '.join(sorted(shape.answers))}",
        )
    return None


def check_expression(inner: str, scope: Scope) -> list[Problem]:
    try:
        expr = parse_expression(inner)
    except ExpressionError as e:
        return [Problem("RB201", f"expression syntax error: {e}", "expressions are jinja2: ${{ inputs.count + 1 }}")]
    problems = []
    for root, path in references(expr):
        p = check_reference(root, path, scope)
        if p is not None:
            problems.append(p)
    return problems


def infer_shape(inner: str, scope: Scope) -> str | None:
    """'list', 'mapping' or 'scalar' when it can be told without running; None otherwise."""
    try:
        expr = parse_expression(inner)
    except ExpressionError:
        return None
    if isinstance(expr, nodes.List):
        return "list"
    if isinstance(expr, (nodes.Dict,)):
        return "mapping"
    if isinstance(expr, (nodes.Const, nodes.BinExpr, nodes.Compare, nodes.Not, nodes.Neg, nodes.Concat)):
        return "scalar"
    if isinstance(expr, nodes.Filter):
        return "list" if expr.name in _LIST_FILTERS else None
    chain = _chain(expr)
    if chain is None:
        return None
    root, path = chain
    if root == "inputs" and len(path) == 1:
        return "scalar"
    if root == "site" and len(path) == 1:
        return {"staff": "list", "teams": "mapping", "pools": "mapping"}.get(path[0], "scalar")
    if root == "run" and len(path) == 1:
        return "scalar"
    if root == "steps" and len(path) >= 2:
        rest = path[2:] if path[1] == "outputs" else path[1:]
        if not rest:
            return "mapping"
        head = rest[0]
        if head == "answers":
            return "list" if len(rest) == 2 else ("mapping" if len(rest) == 1 else None)
        if head == "unreachable":
            return "list" if len(rest) == 1 else None
        if head in ("state", "accounted", "status", "decision", "sent") and len(rest) == 1:
            return "scalar"
        if head in ("items", "counts") and len(rest) == 1:
            return "mapping"
    return None
