"""The one mapping from errors to answers (console/errors.py): each core error class, a
validation error and an HTTP exception get one status and code — as the JSON error shape from
the API and as a page from the dashboard (same status, the code on the page)."""

from __future__ import annotations

import json

import pytest
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request

from console.deps import Caller
from console.errors import ApiError, json_response, problem_of
from console.web import error_page
from flows.errors import Conflict, EngineError, Forbidden, Invalid, NotFound
from runbooks.diagnostics import Diagnostic, RunbookError

CASES = [
    (NotFound("no run r1"), 404, "not_found"),
    (Conflict("task fix is done"), 409, "conflict"),
    (Forbidden("not your team's task"), 403, "forbidden"),
    (Invalid("a rejection needs a reason"), 422, "invalid"),
    (EngineError("something else the engine refused"), 422, "invalid"),
    (RunbookError([Diagnostic("rb.yaml", 21, 13, "RB302", 'step "go_live" needs step "trainig"')]), 422, "invalid"),
    (RequestValidationError([{"loc": ("body", "note"), "msg": "too long", "type": "string_too_long"}]), 422, "invalid"),
    (HTTPException(404), 404, "not_found"),
    (HTTPException(405), 405, "not_found"),
    (ApiError(401, "unknown or revoked token"), 401, "unauthorized"),
    (ApiError(429, "too many failed logins"), 429, "rate_limited"),
    (ApiError(413, "request body over 1024 KiB"), 413, "invalid"),
]
IDS = [f"{type(e).__name__}-{status}" for e, status, _ in CASES]


def request() -> Request:
    return Request({"type": "http", "method": "GET", "path": "/runs/r1", "headers": [], "query_string": b""})


def lead() -> Caller:
    return Caller(
        {"id": "a1", "name": "lead_it", "role": "team_lead", "teams": [["lab", "it"]], "staff_id": None}, "token"
    )


@pytest.mark.parametrize("exc,status,code", CASES, ids=IDS)
def test_each_error_class_has_one_status_and_code_as_json(exc, status, code):
    response = json_response(problem_of(exc))
    body = json.loads(response.body)
    assert response.status_code == status
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code and body["error"]["message"]


@pytest.mark.parametrize("exc,status,code", CASES, ids=IDS)
def test_each_error_class_has_the_same_status_and_code_as_a_page(exc, status, code):
    problem = problem_of(exc)
    page = error_page(request(), lead(), problem)
    assert page.status_code == status and page.media_type == "text/html"
    assert f'data-code="{code}"' in page.body.decode()
    anonymous = error_page(request(), None, problem)  # no session: the login page says why
    assert anonymous.status_code == status and "<form" in anonymous.body.decode()


def test_an_unexpected_error_is_left_to_the_500_handler():
    assert problem_of(ZeroDivisionError("a bug")) is None
