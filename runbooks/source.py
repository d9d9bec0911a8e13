"""Source stage: YAML file → plain Python values plus the position of every key and value.

We build values from PyYAML's event stream (its C parser where present) instead of
`yaml.load`, because we need what `load` throws away or gets wrong:
- positions (line, col) for every key and value, so later stages can point back at the file;
- duplicate keys rejected (PyYAML keeps the last one silently, so a pasted step hides another);
- YAML 1.2 scalars: `on`, `yes`, `no` stay strings (PyYAML's 1.1 rules turn `on:` into True);
- bounded depth and bounded alias expansion: the C composer segfaults on ~50,000-deep nesting
  and an alias bomb expands to billions of nodes in any later walk.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from .diagnostics import Diagnostic, RunbookError

# The C parser (libyaml) is ten times faster than the pure-Python one; only its parser is used.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_DEPTH = 64
MAX_NODES = 200_000
MAX_BYTES = 8 * 1024 * 1024

Loc = tuple  # a path into the document: ("steps", 3, "needs", 0)


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    col: int  # 1-based
    width: int = 1
    # Offset from `col` to the first character of the value's text (1 for a quoted scalar).
    inner: int = 0
    single_line: bool = True


@dataclass
class Document:
    path: str
    data: Any
    keys: dict[Loc, Mark] = field(default_factory=dict)
    values: dict[Loc, Mark] = field(default_factory=dict)
    text: str = ""

    def mark(self, loc: Loc, *, key: bool = False) -> Mark:
        """The position of `loc`, or of its nearest ancestor that has one."""
        loc = tuple(loc)
        while True:
            table = self.keys if key else self.values
            if loc in table:
                return table[loc]
            if not key and loc in self.keys:
                return self.keys[loc]
            if not loc:
                return Mark(1, 1)
            loc = loc[:-1]
            key = False

    def diagnostic(
        self,
        loc: Loc,
        code: str,
        message: str,
        hint: str | None = None,
        *,
        key: bool = False,
        offset: int = 0,
        width: int | None = None,
        severity: str = "error",
    ) -> Diagnostic:
        m = self.mark(loc, key=key)
        col = m.col + (m.inner + offset if m.single_line else 0)
        return Diagnostic(
            self.path, m.line, col, code, message, hint, severity, width if width is not None else m.width
        )


# YAML 1.2 core schema, for plain (unquoted) scalars only.
_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$|^0o[0-7]+$|^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")
_ALLOWED_TAGS = {None, "!", "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


def resolve_plain(text: str) -> Any:
    if _NULL.match(text):
        return None
    if text in _BOOL:
        return _BOOL[text]
    if _INT.match(text):
        if text.startswith("0o"):
            return int(text[2:], 8)
        if text.startswith("0x"):
            return int(text[2:], 16)
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    if _INF.match(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.match(text):
        return math.nan
    return text


class _Position(Protocol):
    """Where PyYAML puts an event (0-based); its C and Python marks both have these."""

    line: int
    column: int


def _at(mark: _Position | None) -> _Position:
    """A parsed event's mark: both parsers set it (the stubs allow None for events made by hand)."""
    assert mark is not None, "the YAML parser gave an event without a position"
    return mark


class _Builder:
    """Builds values from events with a stack (no recursion, so depth is ours to bound)."""

    def __init__(self, path: str):
        self.doc = Document(path, None)
        self.problems: list[Diagnostic] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.nodes = 0

    def fail(self, mark: _Position | None, code: str, message: str, hint: str | None = None) -> RunbookError:
        at = _at(mark)
        d = Diagnostic(self.doc.path, at.line + 1, at.column + 1, code, message, hint)
        return RunbookError(self.problems + [d])

    def build(self, events: Iterable[yaml.Event]) -> Document:
        # Each frame: [container, loc, pending_key, anchor, start_nodes, key_mark]
        stack: list[list] = []
        documents = 0
        root_set = False
        for ev in events:
            if isinstance(ev, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise self.fail(
                        ev.start_mark,
                        "RB002",
                        "a runbook file holds one YAML document, found a second",
                        "remove the '---' line or split the file",
                    )
                continue
            if isinstance(ev, (yaml.StreamStartEvent, yaml.StreamEndEvent, yaml.DocumentEndEvent)):
                continue
            if isinstance(ev, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                container, loc, _, anchor, start_nodes, _ = stack.pop()
                if anchor:
                    self.anchors[anchor] = (container, self.nodes - start_nodes)
                value, loc_done = container, loc
                self._place(stack, value, loc_done)
                if not stack:
                    self.doc.data, root_set = value, True
                continue

            if len(stack) >= MAX_DEPTH:
                raise self.fail(
                    ev.start_mark,
                    "RB005",
                    f"nesting deeper than {MAX_DEPTH} levels",
                    "a runbook is never this deep; check the indentation",
                )
            self.nodes += 1
            if self.nodes > MAX_NODES:
                raise self.fail(
                    ev.start_mark,
                    "RB005",
                    f"document has more than {MAX_NODES:,} values",
                    "split the runbook, or check for runaway aliases",
                )
            loc = self._child_loc(stack, ev)
            if loc is None:  # the key of a mapping entry was recorded; nothing more to do
                continue
            mark = _at(ev.start_mark)
            tag = getattr(ev, "tag", None)
            if isinstance(ev, yaml.AliasEvent):
                if ev.anchor not in self.anchors:
                    raise self.fail(mark, "RB002", f'alias "*{ev.anchor}" names no anchor')
                value, size = self.anchors[ev.anchor]
                self.nodes += size
                if self.nodes > MAX_NODES:
                    raise self.fail(
                        mark,
                        "RB005",
                        f"aliases expand to more than {MAX_NODES:,} values",
                        "this looks like an alias bomb; write the values out",
                    )
                self.doc.values[loc] = Mark(mark.line + 1, mark.column + 1, len(ev.anchor) + 1)
                self._place(stack, value, loc)
                if not stack:
                    self.doc.data, root_set = value, True
                continue
            if tag not in _ALLOWED_TAGS:
                raise self.fail(mark, "RB002", f'YAML tag "{tag}" is not supported', "remove the tag")
            if isinstance(ev, yaml.ScalarEvent):
                # implicit[0]: plain and untagged (the C parser says style '' where Python says None)
                value = resolve_plain(ev.value) if ev.implicit[0] else ev.value
                quoted = ev.style in ("'", '"')
                end = _at(ev.end_mark)
                single = end.line == mark.line
                width = (end.column - mark.column) if single else max(1, len(ev.value.split("\n", 1)[0]))
                self.doc.values[loc] = Mark(
                    mark.line + 1,
                    mark.column + 1,
                    max(1, width),
                    1 if quoted else 0,
                    single and ev.style in (None, "", "'", '"'),
                )
                if ev.anchor:
                    self.anchors[ev.anchor] = (value, 1)
                self._place(stack, value, loc)
                if not stack:
                    self.doc.data, root_set = value, True
                continue
            assert isinstance(ev, yaml.CollectionStartEvent), "every other event was handled above"
            self.doc.values[loc] = Mark(mark.line + 1, mark.column + 1)
            container = {} if isinstance(ev, yaml.MappingStartEvent) else []
            stack.append([container, loc, _NO_KEY, ev.anchor, self.nodes, None])
        if not root_set:
            raise RunbookError(
                [Diagnostic(self.doc.path, 1, 1, "RB004", "the file is empty", "start with `id:` and `steps:`")]
            )
        return self.doc

    def _child_loc(self, stack: list[list[Any]], ev: yaml.Event) -> Loc | None:
        """Where the value of `ev` goes; for a mapping key, record it and return None."""
        if not stack:
            return ()
        frame = stack[-1]
        container, loc = frame[0], frame[1]
        if isinstance(container, list):
            return loc + (len(container),)
        if frame[2] is _NO_KEY:  # this event is a key
            if not isinstance(ev, yaml.ScalarEvent):
                raise self.fail(ev.start_mark, "RB002", "mapping keys must be plain strings")
            key = resolve_plain(ev.value) if ev.implicit[0] else ev.value
            if not isinstance(key, str):
                key = ev.value  # keys are names: `1:` or `true:` keep their text
            m = _at(ev.start_mark)
            if key in container:
                first = self.doc.keys.get(loc + (key,))
                where = f" (first at line {first.line})" if first else ""
                self.problems.append(
                    Diagnostic(
                        self.doc.path,
                        m.line + 1,
                        m.column + 1,
                        "RB003",
                        f'duplicate key "{key}"{where}',
                        "YAML keeps only the last one; remove or rename one of them",
                        width=len(key),
                    )
                )
            self.doc.keys[loc + (key,)] = Mark(m.line + 1, m.column + 1, max(1, len(key)))
            frame[2] = key
            return None
        key, frame[2] = frame[2], _NO_KEY
        return loc + (key,)

    @staticmethod
    def _place(stack: list[list[Any]], value: Any, loc: Loc) -> None:
        if not stack:
            return
        container = stack[-1][0]
        if isinstance(container, list):
            container.append(value)
        else:
            container[loc[-1]] = value


_NO_KEY = object()


def read_text(path: str | Path) -> str:
    """Read a file as UTF-8 text, or raise a located RB001/RB007."""
    p = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise RunbookError([Diagnostic(p, 1, 1, "RB007", f"cannot read the file: {e.strerror or e}")]) from None
    if len(raw) > MAX_BYTES:
        raise RunbookError([Diagnostic(p, 1, 1, "RB005", f"file is larger than {MAX_BYTES // 1024 // 1024} MiB")])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        col = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise RunbookError(
            [Diagnostic(p, line, col, "RB001", f"not UTF-8 text (byte 0x{raw[e.start]:02x})", "save the file as UTF-8")]
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise RunbookError(
            [Diagnostic(p, line, 1, "RB001", "binary file (contains NUL bytes)", "point at a YAML runbook")]
        )
    return text


def parse_yaml(text: str, path: str) -> Document:
    """YAML text → Document, or RunbookError with every source problem found."""
    builder = _Builder(path)
    try:
        doc = builder.build(yaml.parse(text, Loader=_LOADER))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = (e.problem or "syntax error").strip()
        hint = None
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        at = text[mark.index] if mark is not None and 0 <= mark.index < len(text) else ""
        if at == "\t" or "'\\t'" in problem:
            problem, hint = "tab character used for indentation", "indent with spaces, not tabs"
        elif "maximum nesting depth" in problem:
            raise RunbookError(
                builder.problems
                + [
                    Diagnostic(
                        path,
                        line,
                        col,
                        "RB005",
                        f"nesting deeper than {MAX_DEPTH} levels",
                        "a runbook is never this deep; check the indentation",
                    )
                ]
            ) from None
        elif e.context:
            hint = f"{e.context}" + (f" (line {e.context_mark.line + 1})" if e.context_mark else "")
        raise RunbookError(builder.problems + [Diagnostic(path, line, col, "RB002", problem, hint)]) from None
    except yaml.YAMLError as e:  # reader errors: control characters
        raise RunbookError([Diagnostic(path, 1, 1, "RB002", str(e).splitlines()[0])]) from None
    if builder.problems:
        raise RunbookError(builder.problems)
    doc.text = text
    return doc


def load_document(path: str | Path, *, mapping: bool = True) -> Document:
    text = read_text(path)
    doc = parse_yaml(text, str(path))
    if mapping and not isinstance(doc.data, dict):
        raise RunbookError(
            [
                doc.diagnostic(
                    (),
                    "RB006",
                    "expected a mapping of keys (id:, steps:, ...) at the top",
                    "a runbook starts with `id: my_runbook`",
                )
            ]
        )
    return doc
