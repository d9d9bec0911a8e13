"""Diagnostics: a located problem (file:line:col, stable code, message, hint) → rendered text or JSON.

Every stage of `runbooks/` reports problems as `Diagnostic`s and raises `RunbookError` carrying
all of them; only the edges (CLI, API) turn them into output.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

# Stable codes; docs/diagnostics.md lists them with an example each (a test keeps the two in step).
CODES: dict[str, str] = {
    "RB001": "file is not UTF-8 text",
    "RB002": "YAML syntax error",
    "RB003": "duplicate key",
    "RB004": "empty document",
    "RB005": "document too large or too deeply nested",
    "RB006": "document is not a mapping",
    "RB007": "file cannot be read",
    "RB101": "unknown key",
    "RB102": "missing required key",
    "RB103": "wrong type",
    "RB104": "bad duration",
    "RB105": "bad id",
    "RB106": "unknown step kind",
    "RB107": "invalid value",
    "RB201": "expression syntax error",
    "RB202": "expression names an unknown variable",
    "RB203": "expression names an unknown input",
    "RB204": "expression names an unknown step",
    "RB205": "expression names an unknown output or field",
    "RB206": "env used outside with: or channel settings",
    "RB207": "expression uses a step that is not upstream",
    "RB208": "for_each is not a list",
    "RB209": "expression names an unknown site field",
    "RB210": "unknown template",
    "RB301": "duplicate step id",
    "RB302": "needs names an unknown step",
    "RB303": "dependency cycle",
    "RB304": "objective names an unknown step",
    "RB305": "bad target",
    "RB306": "bad input value",
    "RB307": "objective options are not the roll call's answers",
    "RB401": "unknown team",
    "RB402": "unknown pool",
    "RB403": "unknown channel",
    "RB404": "unknown person",
    "RB405": "unknown service queue",
    "RB501": "CSV header is missing a required column",
    "RB502": "CSV row is missing a required value",
    "RB503": "CSV row names an unknown team",
    "RB504": "duplicate staff id",
    "RB505": "duplicate pool key",
    "RB506": "site file is missing",
    "RB507": "team lead is not on the roster",
    "RB508": "service CSV header is missing a required column",
    "RB509": "service CSV row has a bad value",
    "RB510": "bad service setting",
    "RB511": "service supply names what the runbook does not have",
    "RB512": "bad staff id",
    "RB513": "a roster address is not one recipient",
    "RB520": "a shift pattern is longer than a day, or lasts no time",
    "RB521": "rest of a shifts step is longer than a day",
    "RB522": "a shifts step's eligible set has nobody in it",
    "RB523": "a shifts step names a queue the site lacks",
    "RB524": "a loan step names no other site of the library",
    "RB525": "a loan step names a queue one of the two sites lacks",
    "RB526": "a loan step's window is empty or longer than 14 days",
    "RB527": "a loan step asks for a number of agents out of range",
    "RB550": "a `grant` step has no `revoke:` request",
    "RB551": "a grant expires before its first review",
    "RB552": "a check-in question has no options",
    "RB553": "a consumable pool's quantity is not a whole number",
    "RB554": "a consumable pool's `min` names an item it does not have",
    "RB555": "a step draws from a pool that is not consumable",
    "RB570": "sign-in map: unknown or missing key",
    "RB571": "sign-in map: unknown role",
    "RB572": "sign-in map: unknown site or team",
    "RB573": "sign-in map: a value of the wrong type",
    "RB574": "sign-in setting missing or bad",
    "RB601": "pool may run short",
    "RB602": "staff cannot be reached",
    "RB603": "objective may be missed",
    "RB604": "reminder comes after the due time",
}


@dataclass(frozen=True, order=True)
class Diagnostic:
    path: str
    line: int
    col: int
    code: str
    message: str
    hint: str | None = None
    severity: str = "error"
    # Width of the underline in the snippet (at least 1).
    width: int = field(default=1, compare=False)

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("width")
        return data


class RunbookError(Exception):
    """Raised with every problem found in one pass; the edges render them."""

    def __init__(self, diagnostics: Iterable[Diagnostic]):
        self.diagnostics = sorted(diagnostics)
        super().__init__("\n".join(render_line(d) for d in self.diagnostics))


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f'did you mean "{close[0]}"?' if close else None


def render_line(d: Diagnostic) -> str:
    return f"{d.path}:{d.line}:{d.col}: {d.severity}[{d.code}]: {d.message}"


def render(d: Diagnostic, source_lines: list[str] | None = None) -> str:
    """Render like rustc/actionlint: the headline, the source line with a caret, the hint."""
    out = [render_line(d)]
    if source_lines and 1 <= d.line <= len(source_lines):
        text = source_lines[d.line - 1].rstrip("\n").replace("\t", " ")
        gutter = " " * len(str(d.line))
        out.append(f"{gutter} |")
        out.append(f"{d.line} | {text}")
        caret = "^" + "~" * max(0, d.width - 1)
        out.append(f"{gutter} | {' ' * max(0, d.col - 1)}{caret}")
    if d.hint:
        out.append(f"   = hint: {d.hint}")
    return "\n".join(out)


def render_all(diagnostics: Iterable[Diagnostic], read_source: Callable[[str], list[str] | None] | None = None) -> str:
    """Render a batch; `read_source(path)` returns the file's lines (or None) for snippets."""
    cache: dict[str, list[str] | None] = {}
    chunks = []
    for d in sorted(diagnostics):
        if read_source is not None and d.path not in cache:
            cache[d.path] = read_source(d.path)
        chunks.append(render(d, cache.get(d.path)))
    return "\n".join(chunks)
