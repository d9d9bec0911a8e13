"""Errors edge: any exception a request raises → the one (status, code, message) choice
(docs/api.md), rendered as `{"error": {"code", "message"}}` by the JSON API and as a page by
the dashboard (console/web.py): same status and code, another body. Core code raises typed
errors (flows/errors.py, runbooks' RunbookError); only here are they turned into HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from flows.errors import EngineError
from runbooks.diagnostics import RunbookError

STATUS_CODES = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "not_found",
    409: "conflict",
    413: "invalid",
    415: "invalid",
    422: "invalid",
    429: "rate_limited",
}
MAX_LISTED = 10  # problems named in one message (validation errors, diagnostics)


class ApiError(Exception):
    """A refusal decided at the edge (credentials, CSRF, rate limits, unknown files)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


@dataclass(frozen=True)
class Problem:
    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)


def code_for(status: int) -> str:
    return STATUS_CODES.get(status, "invalid")


def problem_of(exc: Exception) -> Problem | None:
    """The answer to a known error; None for anything else (a bug: 500, in the server log)."""
    if isinstance(exc, ApiError):
        return Problem(exc.status, code_for(exc.status), exc.message, exc.headers)
    if isinstance(exc, EngineError):
        return Problem(exc.status, exc.code, exc.message)
    if isinstance(exc, RunbookError):
        message = "; ".join(f"{d.code}: {d.message}" for d in exc.diagnostics[:MAX_LISTED])
        return Problem(422, "invalid", message)
    if isinstance(exc, RequestValidationError):
        problems = []
        for e in exc.errors()[:MAX_LISTED]:
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            problems.append(f"{where or 'body'}: {e.get('msg')}")
        return Problem(422, "invalid", "; ".join(problems) or "invalid request")
    if isinstance(exc, StarletteHTTPException):
        message = "no such route" if exc.status_code in (404, 405) else str(exc.detail)
        return Problem(exc.status_code, code_for(exc.status_code), message)
    return None


UNEXPECTED = Problem(500, "internal", "unexpected error; it is in the server log")
KNOWN: tuple[type[Exception], ...] = (
    ApiError,
    EngineError,
    RunbookError,
    RequestValidationError,
    StarletteHTTPException,
)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one JSON error shape for a status chosen at the edge."""
    return json_response(Problem(status, code_for(status), message, headers or {}))


def json_response(problem: Problem) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": problem.code, "message": problem.message}}, problem.status, headers=problem.headers
    )
