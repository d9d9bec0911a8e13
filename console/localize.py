"""JSON edge: bilingual runbook and site texts (runbooks/texts.py) in an API answer → each text in
the request's language, with every language of it under the object's `texts` key.

The request's language is `?lang=`, else the dashboard's language cookie, else `Accept-Language`,
else English (console/i18n.py `pick`); the middleware keeps it in a context variable for the one
JSON response class every route answers with (docs/api.md, "Texts in two languages")."""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from runbooks.texts import localize_json

from . import i18n

REQUEST_LANG: contextvars.ContextVar[str] = contextvars.ContextVar("request_lang", default="en")


def request_lang(request: Request) -> str:
    return i18n.pick(
        request.query_params.get("lang"), request.cookies.get(i18n.COOKIE), request.headers.get("accept-language")
    )


async def remember_lang(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    REQUEST_LANG.set(request_lang(request))
    return await call_next(request)


class TextsJSONResponse(JSONResponse):
    """The API's JSON: bilingual texts in the request's language, with `texts` beside them."""

    def render(self, content: Any) -> bytes:
        return super().render(localize_json(content, REQUEST_LANG.get()))
