"""Dashboard edge: how a page is made — rendering a template with the caller, their language
and the session's CSRF token; errors as pages (console/errors.py chooses the status); reading
forms (docs/api.md). The pages and forms themselves are console/routes/pages.py, over the
Engine's board data: the same dicts the API's JSON twins return (`/api/overview`,
`/api/runs/{run}/board`, `/api/my/tasks`, `/api/runs/{run}/tasks/{task}`,
`/api/runs/{run}/audit`, `/api/runs/{run}/muster/{step}/calls`).

Who may see a page is the API's policy row of its twin; forms post with the session's CSRF
token (a `csrf` field) and, for check-offs, a one-time key so a double click acts once. Pages
are read-only for viewers; a lead acts on their teams' tasks; a manager intervenes with a
reason. The only script is /static/app.js (live updates over SSE); the Content-Security-
Policy allows nothing else."""

from __future__ import annotations

import urllib.parse
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from . import i18n
from .deps import Caller
from .errors import ApiError, Problem
from .i18n import N_
from .pages import render_page

FEED_BACKLOG = 30  # events the run page's live feed shows from before it was opened
MAX_FORM_FIELDS = 2100  # a bulk check-off of up to 1,000 tasks, its fields and note


def safe_next(value: str | None) -> str:
    """Where to go after a login or a language switch: a path on this server, never elsewhere."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def fmt_value(objective: dict[str, Any], value: float) -> str:
    return f"{value:.0%}" if objective.get("measure") in ("ratio", "coverage") else f"{value:g}"


async def read_form(request: Request, max_fields: int = MAX_FORM_FIELDS) -> dict[str, list[str]]:
    """A form's fields; more than `max_fields` (the form's own, or any form's) is a 413."""
    body = (await request.body()).decode("utf-8", "replace")
    try:
        return urllib.parse.parse_qs(body, keep_blank_values=True, max_num_fields=max_fields)
    except ValueError:
        raise ApiError(413, f"this form has at most {max_fields} fields") from None


def one(form: dict[str, list[str]], name: str) -> str | None:
    value = (form.get(name) or [""])[0].strip()
    return value or None


def web_key(caller: Caller, form: dict[str, list[str]], *parts: str) -> str | None:
    """The form's one-time key (`idem`, a double click acts once), scoped to the account (a replay
    by another account is not one) and to `parts` (a bulk check-off's task)."""
    idem = one(form, "idem")
    return ":".join(("web", str(caller.account["id"]), idem, *parts)) if idem and caller.account else None


def fields_of(form: dict[str, list[str]]) -> dict[str, str]:
    """`f.<name>` fields; a field given more than once (a people field's ticked boxes) is the
    comma-separated list of its values."""
    out = {}
    for k, v in form.items():
        values = [x.strip() for x in v if x.strip()]
        if k.startswith("f.") and values:
            out[k[2:]] = ",".join(values)
    return out


# --- rendering ---------------------------------------------------------------------------------


def lang_of(request: Request) -> str:
    return i18n.pick(None, request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))


def render(request: Request, caller: Caller, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = lang_of(request)
    context.setdefault("flash", None)
    query = request.url.query
    page = render_page(
        template,
        lang=lang,
        _=i18n.translator(lang),
        me=caller.account,
        csrf=caller.session.csrf if caller.session is not None else "",
        here=request.url.path + (f"?{query}" if query else ""),
        local=i18n.local_time,
        feed_words=i18n.feed_words,
        ngettext=i18n.plural(lang),
        zone_of=i18n.zone_abbreviation,
        dur=i18n.duration,
        fmt_value=fmt_value,
        title=context.pop("title", ""),
        **context,
    )
    return HTMLResponse(page, status)


def login_context(request: Request, lang: str, next_page: str, error: str | None, **extra: Any) -> dict[str, Any]:
    """What the login page shows: "Sign in with <provider>" when OpenID Connect is configured,
    and the token form unless `RUNBOOK_OIDC_ONLY=1`."""
    app = request.scope.get("app")  # a bare request (no app) shows the token form only
    oidc = getattr(getattr(getattr(app, "state", None), "context", None), "oidc", None)
    return {
        "lang": lang,
        "_": i18n.translator(lang),
        "next": next_page,
        "error": error,
        "provider": oidc.settings.name if oidc is not None else None,
        "token_form": oidc is None or not oidc.settings.only,
        "signed_out": False,
        "provider_logout": None,
        **extra,
    }


def error_page(request: Request, caller: Caller | None, problem: Problem) -> HTMLResponse:
    """An error as a page: the status and code the JSON API would give, for a person."""
    if caller is None:
        lang = lang_of(request)
        return HTMLResponse(
            render_page("login.html", **login_context(request, lang, "/", problem.message)), problem.status
        )
    return render(
        request,
        caller,
        "error.html",
        problem.status,
        title=str(problem.status),
        message=problem.message,
        code=problem.code,
    )


def to_login(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/login?next=" + urllib.parse.quote(here, safe=""), 303)


def segment(value: str) -> str:
    """A path segment of a redirect, quoted."""
    return urllib.parse.quote(value, safe="")


def live(run_id: str, after: int) -> str:
    """A run the page follows over SSE, from which event on: `run:seq`."""
    return f"{run_id}:{max(after, 0)}"


# What a form did, said after its redirect (`?ok=<action>`): words from this table only, never
# text from the URL. Translated by the page (console/i18n.py).
DONE = {
    "complete": N_("Checked off ✓"),
    "approve": N_("Approved ✓"),
    "reject": N_("Rejected ✓"),
    "skip": N_("Skipped ✓"),
    "retry": N_("Sent back to retry ✓"),
    "reassign": N_("Reassigned ✓"),
    "cancel": N_("Run cancelled ✓"),
    "restock": N_("Restocked ✓"),
    "lockdown": N_("Lockdown declared ✓"),
    "standdown": N_("Stood down ✓"),
    "start": N_("Run started ✓"),
    "add": N_("Task added ✓"),
    "update": N_("Update posted ✓"),
}


def flash_of(request: Request) -> str | None:
    q = request.query_params
    if "ok" in q and q.get("ok", "").isdigit():
        text = f"{q['ok']} ✓"
        if q.get("failed", "0").isdigit() and q.get("failed", "0") != "0":
            text += f" · {q['failed']} ✗ (see each task)"
        return text
    return DONE.get(q.get("ok", ""), "✓") if "ok" in q else None
