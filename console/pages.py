"""Pages edge: HTML for people without an account (a staff member's roll-call answer page),
rendered by jinja2 with autoescape on: names and questions from runbooks are text."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from runbooks.texts import text_in


@pass_context
def _in_page_language(context: Context, value: Any) -> Any:
    """Every `{{ }}` of a page: a runbook's or site's bilingual text in the page's `lang`."""
    return text_in(value, context.get("lang"))


def _text_filter(context: Context, value: Any) -> Any:
    return text_in(value, context.get("lang"))


@lru_cache(maxsize=1)
def _env() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        finalize=_in_page_language,
    )
    # `{{ task.title | text | truncate(40) }}`: the text in the page's language before a filter.
    env.filters["text"] = pass_context(_text_filter)
    return env


def render_page(template: str, /, **context: Any) -> str:
    return _env().get_template(template).render({"error": None, "thanks": False, "busy": False, **context})
