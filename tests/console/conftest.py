"""The CLI in process: `cli("start", …)` runs the `runbook` app on the lab's environment."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from console.cli import app


@pytest.fixture
def cli(lab_env):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args))

    return invoke
