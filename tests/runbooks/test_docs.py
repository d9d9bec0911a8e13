"""Contracts written down: every diagnostic code and step kind is documented, and used codes exist."""

from __future__ import annotations

import re

from runbooks.diagnostics import CODES
from runbooks.models import STEP_MODELS
from tests.conftest import ROOT


def test_every_diagnostic_code_is_in_the_docs_table_and_nothing_else_is():
    documented = re.findall(r"^\| (RB\d{3}) \|", (ROOT / "docs" / "diagnostics.md").read_text(), re.M)
    assert documented == list(CODES)


def test_every_code_the_code_emits_is_declared():
    used = set()
    for path in (ROOT / "runbooks").glob("*.py"):
        used |= set(re.findall(r'"(RB\d{3})"', path.read_text()))
    assert used <= set(CODES), used - set(CODES)


def test_every_step_kind_is_documented_in_the_language_guide():
    text = (ROOT / "docs" / "language.md").read_text()
    for kind in STEP_MODELS:
        assert f"### `{kind}`" in text, kind


def test_every_cli_command_is_in_the_readme():
    from console.cli import app

    readme = (ROOT / "README.md").read_text()
    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    missing = [n for n in names if f"runbook {n}" not in readme and f"|{n}" not in readme and f"{n}|" not in readme]
    assert missing == []
