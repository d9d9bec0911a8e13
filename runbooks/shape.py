"""Shape stage: Document + pydantic model class → model instance, or every error located in the file.

Pydantic collects all errors in one pass; we map each error's `loc` back to the YAML node it
came from and give it a stable code, a message that says what was found and what was
expected, and a did-you-mean for unknown keys and values.
"""

from __future__ import annotations

import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from .diagnostics import Diagnostic, did_you_mean
from .source import Document

M = TypeVar("M", bound=BaseModel)

_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "int_from_float": "an integer",
}


def describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f'the string "{value[:40]}"'
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _data_loc(data: Any, loc: tuple) -> tuple:
    """Drop the discriminator tags pydantic puts in `loc` (('steps', 0, 'manual', 'x'))."""
    out: list = []
    for part in loc:
        if isinstance(data, dict) and isinstance(part, str) and part not in data and data.get("kind") == part:
            continue
        out.append(part)
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            data = None
    return tuple(out)


def _resolve(ann: Any, node: Any) -> Any:
    """Strip Annotated/Optional; pick a step model by its kind."""
    from .models import STEP_MODELS

    while True:
        origin = typing.get_origin(ann)
        args = typing.get_args(ann)
        if origin is typing.Annotated:
            ann = args[0]
        elif origin is typing.Union or origin is types.UnionType:
            kind = node.get("kind") if isinstance(node, dict) else None
            if kind in STEP_MODELS and STEP_MODELS[kind] in args:
                return STEP_MODELS[kind]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            containers = [a for a in args if typing.get_origin(a) in (list, dict)]
            candidates = models if isinstance(node, dict) and models else containers or models
            if not candidates:
                return None
            ann = candidates[0]
        else:
            return ann


def _allowed_keys(root: type[BaseModel], data: Any, loc: tuple) -> list[str]:
    """The keys allowed in the mapping at `loc`, found by walking the model's annotations."""
    ann: Any = root
    node = data
    for part in loc:
        ann = _resolve(ann, node)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            field = next((f for n, f in ann.model_fields.items() if (f.alias or n) == part), None)
            if field is None:
                return []
            ann = field.annotation
        elif typing.get_origin(ann) in (list, dict):
            ann = typing.get_args(ann)[-1]
        else:
            return []
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    ann = _resolve(ann, node)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [f.alias or name for name, f in ann.model_fields.items()]
    return []


def validate_model(
    doc: Document, model: type[M], data: Any = None, base: tuple = ()
) -> tuple[M | None, list[Diagnostic]]:
    """Validate `data` (default: the whole document) found at `base` in `doc` against `model`."""
    data = doc.data if data is None else data
    try:
        return model.model_validate(data), []
    except ValidationError as e:
        return None, [translate(doc, model, data, base, err) for err in e.errors(include_url=False)]


def translate(doc: Document, model: type[BaseModel], data: Any, base: tuple, err: ErrorDetails) -> Diagnostic:
    from .models import STEP_MODELS

    loc = _data_loc(data, tuple(err["loc"]))
    full = base + loc
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        key = loc[-1]
        allowed = _allowed_keys(model, data, loc[:-1])
        hint = did_you_mean(str(key), allowed) or (f"allowed keys: {', '.join(allowed)}" if allowed else None)
        return doc.diagnostic(full, "RB101", f'unknown key "{key}"', hint, key=True)
    if kind == "missing":
        key = loc[-1]
        parent = full[:-1]
        where = f' in step "{_step_id(data, loc)}"' if loc and loc[0] == "steps" and len(loc) > 2 else ""
        return doc.diagnostic(
            parent, "RB102", f'missing required key "{key}"{where}', f"add `{key}:`", key=bool(parent), width=None
        )
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = ctx.get("tag")
        if tag is None:
            return doc.diagnostic(
                full, "RB102", 'missing required key "kind"', f"kind is one of: {', '.join(STEP_MODELS)}", key=True
            )
        return doc.diagnostic(
            full + ("kind",),
            "RB106",
            f'unknown step kind "{tag}"',
            did_you_mean(str(tag), STEP_MODELS) or f"kinds: {', '.join(STEP_MODELS)}",
        )
    if kind == "text_lang":
        # Point at the language key itself, not at the whole text.
        lang_key = ctx.get("key")
        at = full + (lang_key,) if isinstance(value, dict) and lang_key in value else full
        return doc.diagnostic(at, "RB580", err["msg"], ctx.get("hint") or None, key=at != full)
    if kind == "text_en":
        return doc.diagnostic(full, "RB581", err["msg"], "add `en: …`: a reader in any other language falls back to it")
    if kind == "text_type":
        return doc.diagnostic(full, "RB103", err["msg"] + f", got {describe(value)}")
    if kind == "duration":
        return doc.diagnostic(
            full, "RB104", f'bad duration "{value}"', "durations are numbers with s, m, h or d: 0s, 90m, 1h30m, 2d"
        )
    if kind == "bad_id":
        return doc.diagnostic(
            full,
            "RB105",
            f'bad id "{value}"',
            "ids are lowercase letters, digits and _, starting with a letter (go_live)",
        )
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        options = [o.strip().strip("'") for o in expected.replace(" or ", ", ").split(",")]
        hint = did_you_mean(str(value), options) or f"expected one of: {', '.join(options)}"
        return doc.diagnostic(full, "RB107", f"{describe(value)} is not allowed here", hint)
    if kind in _TYPE_NAMES:
        return doc.diagnostic(
            full,
            "RB103",
            f"expected {_TYPE_NAMES[kind]}, got {describe(value)}",
            'quote it to make it a string: "3.10"'
            if kind == "string_type" and isinstance(value, (int, float, bool))
            else None,
        )
    if kind == "too_short":
        return doc.diagnostic(
            full, "RB107", f"expected at least {ctx.get('min_length')} entries, got {ctx.get('actual_length')}"
        )
    if kind == "too_long":
        return doc.diagnostic(
            full, "RB107", f"expected at most {ctx.get('max_length')} entries, got {ctx.get('actual_length')}"
        )
    message = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return doc.diagnostic(full, "RB107", message[0].lower() + message[1:] if message else "invalid value")


def _step_id(data: Any, loc: tuple) -> str:
    try:
        return str(data["steps"][loc[1]].get("id", f"#{loc[1] + 1}"))
    except (KeyError, IndexError, TypeError, AttributeError):
        return "?"
