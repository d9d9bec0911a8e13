"""Errors of the engine's operations, each with the code the API and CLI show (docs/api.md)."""

from __future__ import annotations


class EngineError(Exception):
    code = "invalid"
    status = 422

    def __init__(self, message: str, *, cli: str | None = None):
        super().__init__(message)
        self.message = message
        # The CLI's own wording when it differs (it may name options such as `--field`); the
        # API and the pages show `message`, written for someone reading a page.
        self.cli = cli or message


class NotFound(EngineError):
    code, status = "not_found", 404


class Conflict(EngineError):
    code, status = "conflict", 409


class Forbidden(EngineError):
    code, status = "forbidden", 403


class Invalid(EngineError):
    code, status = "invalid", 422
