"""The edges' contracts are written down: every CLI command has its section in docs/cli.md and
every route of the HTTP app (API, roll-call pages, login) is in docs/api.md, with its policy
row named there."""

from __future__ import annotations

import re

from console.auth import POLICY
from console.cli import app as cli_app
from tests.conftest import ROOT

UNDOCUMENTED_ROUTES = {("GET", "/static/{name}")}  # the docs name the three files it serves


def commands(app, prefix: str = "runbook") -> list[str]:
    names = [f"{prefix} {c.name or c.callback.__name__}" for c in app.registered_commands]
    for group in app.registered_groups:
        names += commands(group.typer_instance, f"{prefix} {group.name}")
    return names


def flat_routes(routes):
    """The app's routes; FastAPI keeps each included router as one entry (`original_router`)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from flat_routes(inner.routes) if inner is not None else [route]


def test_every_cli_command_has_its_section_in_the_cli_docs():
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    headings = re.findall(r"^### `([^`]+)`", text, re.M)
    missing = [c for c in commands(cli_app) if not any(h == c or h.startswith(c + " ") for h in headings)]
    assert missing == []


def test_every_route_of_the_app_is_in_the_api_docs(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNBOOK_HOME", str(tmp_path))
    from console.api import create_app
    from flows.store import Store

    store = Store()
    try:
        routes = {
            (method, route.path)
            for route in flat_routes(create_app(store).routes)
            for method in getattr(route, "methods", set()) - {"HEAD"}
        }
    finally:
        store.dispose()
    assert ("GET", "/api/me") in routes  # the app's routes were found: this test can fail
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")

    def documented(method: str, path: str) -> bool:
        # `GET /runs/{run}` and not `GET /runs/{run}/audit` for it; a page may be named by its path alone.
        named = re.search(rf"{method} {re.escape(path)}(?![\w{{}}/:.-])", text)
        return bool(named) or f"`{path}`" in text

    missing = sorted(f"{m} {p}" for m, p in routes if (m, p) not in UNDOCUMENTED_ROUTES and not documented(m, p))
    assert missing == []


def test_every_policy_row_is_in_the_api_docs():
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert [row for row in POLICY if f"`{row}`" not in text] == []
