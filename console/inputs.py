"""API edge: a request's path, query and body → a refusal (422 or 413, the one error shape)
before any route runs, when they hold what no route takes: control characters in ids or text,
JSON numbers that are not finite, more form fields than any form has. Nothing is half-written
because nothing is written: the route never runs."""

from __future__ import annotations

import json
import math
import urllib.parse
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from runbooks.clean import control_character

from .errors import error_response
from .web import MAX_FORM_FIELDS

JSON_TYPES = ("application/json",)
FORM_TYPES = ("application/x-www-form-urlencoded",)


class _NonFinite(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise _NonFinite(f"{name} is not a finite number")


def problem_in(value: Any, where: str) -> str | None:
    """Where in a JSON value the first control character or non-finite number is, and which."""
    if isinstance(value, str):
        bad = control_character(value)
        return f"{where}: {bad}" if bad else None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where}: not a finite number"
    if isinstance(value, dict):
        for k, v in value.items():
            found = problem_in(k, f"{where} (a key)") or problem_in(v, f"{where}.{k}")
            if found:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = problem_in(v, f"{where}[{i}]")
            if found:
                return found
    return None


async def refusal(request: Request) -> JSONResponse | None:
    found = problem_in(request.url.path, "path")
    for name, value in request.query_params.multi_items():
        found = found or problem_in(name, "query") or problem_in(value, f"query {name}")
    if found:
        return error_response(422, found)
    if request.method not in ("POST", "PUT", "PATCH"):
        return None
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()  # cached: the route reads the same bytes
    if not body:
        return None
    if kind in JSON_TYPES:
        try:
            data = json.loads(body, parse_constant=_refuse_constant)
        except _NonFinite as e:
            return error_response(422, f"body: {e} (JSON has no NaN or Infinity)")
        except ValueError:
            return None  # not JSON: the route's validation says so
        found = problem_in(data, "body")
    elif kind in FORM_TYPES:
        if body.count(b"&") + 1 > MAX_FORM_FIELDS:
            return error_response(413, f"a form has at most {MAX_FORM_FIELDS} fields")
        text = body.decode("utf-8", "replace")
        for name, value in urllib.parse.parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS):
            found = found or problem_in(name, "form") or problem_in(value, f"form {name}")
    return error_response(422, found) if found else None
