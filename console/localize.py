"""JSON edge: bilingual runbook and site texts (runbooks/texts.py) in an API answer → each text in
the request's language, with every language of it under the object's `texts` key.

The request's language is `?lang=`, else the dashboard's language cookie, else `Accept-Language`,
else English (console/i18n.py `pick`); the middleware keeps it in a context variable. Each
`/api/` endpoint's answer is localized as it returns, before FastAPI validates it against the
route's return type (which would turn a Texts into its English string) (docs/api.md, "Texts in
two languages")."""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

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


def _localizing(call: Callable[..., Any]) -> Callable[..., Any]:
    """The endpoint, its answer localized; async stays async (FastAPI decides how to call it),
    and the signature is the endpoint's (functools.wraps: FastAPI reads it through __wrapped__)."""
    if getattr(call, "__localized__", False):
        return call
    if inspect.iscoroutinefunction(call):

        @functools.wraps(call)
        async def answer_async(*args: Any, **kwargs: Any) -> Any:
            return _localized(await call(*args, **kwargs))

        answer_async.__localized__ = True  # type: ignore[attr-defined]
        return answer_async

    @functools.wraps(call)
    def answer(*args: Any, **kwargs: Any) -> Any:
        return _localized(call(*args, **kwargs))

    answer.__localized__ = True  # type: ignore[attr-defined]
    return answer


def _localized(value: Any) -> Any:
    return value if isinstance(value, Response) else localize_json(value, REQUEST_LANG.get())


def localize_api(router: APIRouter) -> APIRouter:
    """Every `/api/` route of `router` answers in the request's language (pages do it in their
    templates); done once per router, before the app includes it."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.path.startswith("/api/") and route.dependant.call is not None:
            route.endpoint = _localizing(route.endpoint)
            route.dependant.call = _localizing(route.dependant.call)
    return router
