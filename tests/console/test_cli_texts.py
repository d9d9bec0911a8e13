"""The CLI in the reader's language: `runbook --lang zh-CN` prints a bilingual runbook's task
titles and run name in Chinese, JSON gives both under `texts`, an unknown language is a usage
error; without it the English, as before."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from console.cli import app

runner = CliRunner()
RUNBOOK = """id: bilingual_cli
name: {en: Bilingual drill, zh-CN: 双语演练}
steps:
  - id: confirm
    kind: manual
    owner: team:it
    name: {en: Confirm the desks, zh-CN: 确认工位}
"""


def test_the_cli_prints_texts_in_the_language_it_is_given(lab_env, write_runbook):
    path = write_runbook(RUNBOOK)
    run = runner.invoke(app, ["start", str(path), "--site", "lab"]).stdout.strip()
    zh = runner.invoke(app, ["--lang", "zh-CN", "tasks", run])
    assert zh.exit_code == 0, zh.output
    assert "确认工位" in zh.stdout and "Confirm the desks" not in zh.stdout
    en = runner.invoke(app, ["tasks", run])
    assert "Confirm the desks" in en.stdout and "确认工位" not in en.stdout
    status = runner.invoke(app, ["--lang", "zh-CN", "status", run])
    assert "双语演练" in status.stdout, status.output

    data = json.loads(runner.invoke(app, ["--lang", "zh-CN", "tasks", run, "--format", "json"]).stdout)
    (task,) = data["tasks"]
    assert task["title"] == "确认工位"
    assert task["texts"]["title"] == {"en": "Confirm the desks", "zh-CN": "确认工位"}


def test_an_unknown_language_is_a_usage_error_naming_the_languages(lab_env):
    result = runner.invoke(app, ["--lang", "fr", "status"])
    assert result.exit_code == 2
    assert 'unknown language "fr" (languages: en, zh-CN)' in result.output
