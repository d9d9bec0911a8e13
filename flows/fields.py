"""Check-off fields: the values a person gives (strings from the CLI, JSON from the API) + the
step's `fields:` spec → typed values, or an Invalid naming every bad field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from runbooks.clean import control_character, to_integer, to_number

from .errors import Invalid


def _people(value: Any, allowed: frozenset[str] | None) -> list[str]:
    """A list of staff ids (from the CLI: comma-separated), each one of the field's options."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of staff ids")
    unknown = [v for v in value if allowed is not None and v not in allowed]
    if unknown:
        raise ValueError(f"not among the people this field lists: {', '.join(unknown[:10])}")
    return list(dict.fromkeys(value))


def _convert(kind: str, value: Any, spec: Mapping[str, Any], allowed: frozenset[str] | None = None) -> Any:
    if kind == "people":
        return _people(value, allowed)
    if kind == "integer":
        return to_integer(value, spec.get("minimum"), spec.get("maximum"))
    if kind == "number":
        return to_number(value, spec.get("minimum"), spec.get("maximum"))
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "1"):
            return True
        if text in ("false", "no", "0"):
            return False
        raise ValueError("expected true or false")
    if not isinstance(value, str):
        raise ValueError("expected text")
    bad = control_character(value)
    if bad:
        raise ValueError(bad)
    if kind == "choice" and value not in (spec.get("options") or []):
        raise ValueError(f"expected one of {', '.join(spec.get('options') or [])}")
    pattern = spec.get("pattern")
    if pattern and not re.fullmatch(pattern, value):
        raise ValueError(f"does not match {pattern}")
    return value


def check_fields(
    specs: Mapping[str, Mapping[str, Any]],
    given: Mapping[str, Any],
    task_id: str,
    people: Mapping[str, frozenset[str]] | None = None,
) -> dict[str, Any]:
    """`people`: the staff ids each `people` field may list (its options, rendered)."""
    problems = []
    values: dict[str, Any] = {}
    for name, value in given.items():
        spec = specs.get(name)
        if spec is None:
            known = ", ".join(specs) or "none"
            problems.append(f'unknown field "{name}" (fields of {task_id}: {known})')
            continue
        try:
            values[name] = _convert(spec.get("type", "string"), value, spec, (people or {}).get(name))
        except ValueError as e:
            problems.append(f'field "{name}": {e}, got {value!r}')
    for name, spec in specs.items():
        if spec.get("required") and name not in given:
            problems.append(f'field "{name}" is required ({spec.get("type", "string")})')
    if problems:
        raise Invalid(f"{task_id}: " + "; ".join(problems))
    return values
