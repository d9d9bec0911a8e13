"""Pages edge: HTML for people without an account (a staff member's roll-call answer page),
rendered by jinja2 with autoescape on: names and questions from runbooks are text."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment


@lru_cache(maxsize=1)
def _env() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
    )


def render_page(template: str, /, **context: Any) -> str:
    return _env().get_template(template).render({"error": None, "thanks": False, "busy": False, **context})
