"""Render: an event and its context → subject and text in the recipient's language, from the
built-in templates (`templates/<lang>/<event>.txt`: line 1 the subject, then a blank line, then
the body), and the HTML part of a mail. Drill messages are marked in the subject and the text.

Text templates render data, never markup: chat channels neutralise their own markup when they
send, and the HTML mail is autoescaped."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment

TEMPLATES = Path(__file__).parent / "templates"
LANGS = ("en", "zh-CN")
DRILL = {"en": "[DRILL]", "zh-CN": "[演练]"}


def number(value: Any, measure: str | None = None) -> str:
    """An objective's number for a person: a share as a percentage (`90%`, not `0.9`), a count
    without a trailing `.0` (`48`, not `48.0`)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return str(value)
    if measure in ("ratio", "coverage"):
        return f"{value:.0%}"
    return f"{value:g}"


def local(value: Any, tz: str) -> str:
    """An ISO time (UTC) → the site's local time with its zone's abbreviation (one clock)."""
    try:
        moment = datetime.fromisoformat(str(value)).astimezone(ZoneInfo(tz))
    except (ValueError, ZoneInfoNotFoundError):
        return str(value)
    return moment.strftime("%Y-%m-%d %H:%M %Z")


@lru_cache(maxsize=1)
def _environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=False,
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
    )
    env.filters.update(number=number, local=local)
    return env


def lang_of(*choices: str | None) -> str:
    """The first supported language of the choices (person, channel, site), else English."""
    return next((c for c in choices if c in LANGS), "en")


def has_template(event: str) -> bool:
    return (TEMPLATES / "en" / f"{event}.txt").is_file()


def split(text: str) -> tuple[str, str]:
    """A rendered message → (subject, text): the first line is the subject; the text is the
    whole message, so channels without subjects lose nothing."""
    text = text.strip()
    subject = text.splitlines()[0].strip() if text else ""
    return subject[:200], text


def render_event(event: str, lang: str, context: Mapping[str, Any]) -> tuple[str, str]:
    try:
        template = _environment().get_template(f"{lang}/{event}.txt")
    except TemplateNotFound:
        template = _environment().get_template(f"en/{event}.txt")
    return split(template.render({**context, "event": event}))


def mark_drill(subject: str, text: str, lang: str) -> tuple[str, str]:
    tag = DRILL.get(lang, DRILL["en"])
    return f"{tag} {subject}", f"{tag} {text}"


def html_mail(message: Any) -> str:
    """The HTML part of a mail (autoescaped: a step named `<script>` is text)."""
    body = message.text.split("\n", 1)[1].strip() if "\n" in message.text else message.text
    return (
        _environment()
        .get_template("mail.html")
        .render(
            subject=message.subject,
            paragraphs=[p for p in body.split("\n\n") if p.strip()],
            link=message.link,
            drill=message.drill,
            lang=message.lang,
        )
    )


def render_digest(messages: list, lang: str, limit: int = 20) -> tuple[str, str]:
    """Several messages to one destination → one: a count, the first subjects, a link."""
    events = {m.event for m in messages}
    runs = {m.run for m in messages}
    link = next((m.link for m in messages if m.link), None)
    if link and len(runs) == 1:
        link = link.split("/tasks/", 1)[0]
    subjects = [m.subject for m in messages]
    return render_event(
        "digest",
        lang,
        {
            "count": len(messages),
            "subjects": subjects[:limit],
            "more": max(0, len(subjects) - limit),
            "link": link,
            "digest_of": events.pop() if len(events) == 1 else None,
        },
    )
