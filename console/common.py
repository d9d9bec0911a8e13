"""CLI plumbing shared by the command modules: output formats, errors → messages and exit codes."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from flows.errors import EngineError
from runbooks.diagnostics import RunbookError, render_all
from runbooks.library import NotFound
from runbooks.texts import LANGS, localize_json

T = TypeVar("T")

# Piped output gets 120 columns (rich would assume 80 and wrap every table).
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 120)


class Format(StrEnum):
    text = "text"
    json = "json"


FORMAT = typer.Option(Format.text, "--format", help="text for people, json for programs")


def read_lines(path: str) -> list[str] | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def print_json(data: Any) -> None:
    typer.echo(json.dumps(in_lang(data), indent=2, ensure_ascii=False, default=str))


# `runbook --lang zh-CN …` (or RUNBOOK_LANG): runbook and site texts in that language; English
# where a text was not written in it. JSON gives every language too, under `texts`.
TEXT_LANG = {"lang": "en"}


def set_lang(lang: str | None) -> None:
    import os

    chosen = lang or os.environ.get("RUNBOOK_LANG") or "en"
    if chosen not in LANGS:
        raise fail(f'--lang: unknown language "{chosen}" (languages: {", ".join(LANGS)})', 2)
    TEXT_LANG["lang"] = chosen  # a remote client asks the server for the same (console/remote.py)


def in_lang(data: Any) -> Any:
    """Runbook and site texts of what a command shows, in the CLI's language."""
    return localize_json(data, TEXT_LANG["lang"])


def parse_pairs(pairs: list[str] | None, option: str) -> dict[str, str]:
    result = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise fail(f'{option} takes key=value, got "{pair}"', 2)
        result[key.strip()] = value
    return result


@contextlib.contextmanager
def reported() -> Iterator[None]:
    """Turn core errors into messages and exit codes (1: invalid input, 2: usage)."""
    try:
        yield
    except RunbookError as e:
        typer.echo(render_all(e.diagnostics, read_lines), err=True)
        raise typer.Exit(1) from None
    except NotFound as e:
        raise fail(str(e), 2) from None


def engine_call(fn: Callable[[], T]) -> T:
    """`fn()`, its core errors as messages and exit codes (an engine refusal: 1)."""
    try:
        with reported():
            return fn()
    except EngineError as e:
        raise fail(e.cli) from None


CLOCK = {"utc": False}  # `runbook --utc …`: times for people in UTC instead of the site's zone


def site_zone(eng: Any, run_id: str) -> str | None:
    """The zone a run's times are shown in: its site's, or None (UTC) with `--utc` or where the
    site cannot be read."""
    if CLOCK["utc"]:
        return None
    try:
        remote_zone = getattr(eng, "site_zone", None)  # through the API: the board names the site's zone
        if remote_zone is not None:
            return str(remote_zone(run_id) or "UTC")
        return str(eng.site_of(run_id).get("timezone") or "UTC")
    except Exception:
        return None
