"""Clean input: text a person or a client sends → the first control character it holds, or None.

NUL and the other control characters (C0 and C1, DEL) are refused in ids and text everywhere:
PostgreSQL cannot store a NUL in text at all, and the others hide in logs and terminals. Newline,
carriage return and tab are text."""

from __future__ import annotations

import math
import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def control_character(text: str) -> str | None:
    """`U+0000 at position 3` for the first control character of `text`, else None."""
    m = _CONTROL.search(text)
    return None if m is None else f"control character U+{ord(m.group()):04X} at position {m.start()}"


def escape_controls(text: str) -> str:
    """The control characters of `text` as `\\xNN` escapes (for what is stored of a refusal)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


MAX_MAGNITUDE = 2**53  # integers past this lose precision as JSON numbers
_INTEGER = re.compile(r"\s*[-+]?[0-9]{1,20}\s*")
_NUMBER = re.compile(r"\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,3})?\s*")


def _bounded(value: float, low: float | None, high: float | None) -> None:
    if low is not None and value < low:
        raise ValueError(f"must be at least {low:g}")
    if high is not None and value > high:
        raise ValueError(f"must be at most {high:g}")
    if abs(value) > MAX_MAGNITUDE:
        raise ValueError(f"must be between -{MAX_MAGNITUDE} and {MAX_MAGNITUDE}")


def to_integer(value: object, low: float | None = None, high: float | None = None) -> int:
    """An integer from JSON or typed text (ASCII digits; `1e23` and `2.0` are not integers),
    within `low`..`high`; ValueError saying why not."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError("expected an integer")
    if isinstance(value, str):
        if not _INTEGER.fullmatch(value):
            raise ValueError("expected an integer")
        value = int(value)
    _bounded(value, low, high)
    return value


def to_number(value: object, low: float | None = None, high: float | None = None) -> float:
    """A finite number from JSON or typed text (no `nan`, `inf`, `1e999`), within `low`..`high`."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError("expected a number")
    if isinstance(value, str) and not _NUMBER.fullmatch(value):
        raise ValueError("expected a number")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise ValueError("expected a number") from None
    if not math.isfinite(number):  # NaN breaks every comparison, and every page showing it
        raise ValueError("not a finite number")
    _bounded(number, low, high)
    return number
