"""Bilingual texts in the language: any name, question, option label, message or description
may be `{en: …, zh-CN: …}`; an unknown language key (RB580) and a text without English (RB581)
are located diagnostics; a plain string stays a plain string; the JSON Schema says so."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from console.cli import app
from runbooks.diagnostics import RunbookError
from runbooks.plan import load_plan, load_runbook
from runbooks.texts import Texts, text_in

BILINGUAL = """id: rb
name: {en: Roll call drill, zh-CN: 报到演练}
description: {en: A short drill, zh-CN: 一次简短演练}
inputs:
  n: {type: integer, default: 2, description: {en: How many, zh-CN: 人数}}
objectives:
  - {id: accounted, name: {en: Staff accounted for, zh-CN: 已报到人员}, ratio: roll, target: 0.5, within: 4h}
steps:
  - id: roll
    kind: muster
    owner: team:it
    audience: "${{ site.staff }}"
    question: {en: "Where can you work?", zh-CN: "您在哪里工作？"}
    options:
      onsite: {en: On site, zh-CN: 驻场}
      home: {en: From home, zh-CN: 居家}
  - id: confirm
    kind: manual
    needs: [roll]
    owner: team:it
    name: {en: "Confirm ${{ inputs.n }} people", zh-CN: "确认${{ inputs.n }}人"}
    fields:
      beds: {type: integer, description: {en: Beds ready, zh-CN: 床位数}}
  - id: tell
    kind: notify
    needs: [confirm]
    to: [channel:console]
    message: {en: "Done at ${{ site.id }}", zh-CN: "${{ site.id }}已完成"}
"""


def test_a_bilingual_runbook_keeps_every_language_of_its_texts(write_runbook, xian):
    plan = load_plan(write_runbook(BILINGUAL), xian)
    assert isinstance(plan.name, Texts) and plan.name == "Roll call drill" and text_in(plan.name, "zh-CN") == "报到演练"
    roll = plan.step("roll")
    assert text_in(roll.params["question"], "zh-CN") == "您在哪里工作？"
    assert {k: text_in(v, "zh-CN") for k, v in roll.params["options"].items()} == {"onsite": "驻场", "home": "居家"}
    assert text_in(plan.step("confirm").name, "zh-CN") == "确认${{ inputs.n }}人"
    assert text_in(plan.step("confirm").params["fields"]["beds"]["description"], "zh-CN") == "床位数"
    assert text_in(plan.objectives[0].name, "zh-CN") == "已报到人员"
    assert text_in(plan.step("tell").params["message"], "en") == "Done at ${{ site.id }}"
    # A language the text was not written in falls back to English.
    assert text_in(plan.name, "fr") == "Roll call drill"


def test_a_plain_string_stays_a_plain_string(write_runbook, xian):
    plan = load_plan(
        write_runbook(BILINGUAL.replace("name: {en: Roll call drill, zh-CN: 报到演练}", "name: Drill")), xian
    )
    assert plan.name == "Drill" and not isinstance(plan.name, Texts)


def test_an_unknown_language_key_is_reported_at_the_key_with_a_did_you_mean(write_runbook):
    text = BILINGUAL.replace(
        'question: {en: "Where can you work?", zh-CN:', 'question: {en: "Where can you work?", zh:'
    )
    with pytest.raises(RunbookError) as exc:
        load_runbook(write_runbook(text))
    (d,) = exc.value.diagnostics
    line = text.splitlines().index(next(t for t in text.splitlines() if "zh:" in t)) + 1
    assert (d.code, d.line, d.col) == ("RB580", line, text.splitlines()[line - 1].index("zh:") + 1)
    assert d.message == 'unknown language "zh" in a text (languages: en, zh-CN)'
    assert d.hint == 'did you mean "zh-CN"?'


def test_a_text_without_english_is_reported_where_it_is_written(write_runbook):
    text = BILINGUAL.replace(
        "beds: {type: integer, description: {en: Beds ready, zh-CN: 床位数}}",
        "beds: {type: integer, description: {zh-CN: 床位数}}",
    )
    with pytest.raises(RunbookError) as exc:
        load_runbook(write_runbook(text))
    (d,) = exc.value.diagnostics
    assert d.code == "RB581" and "no English (en:)" in d.message
    assert text.splitlines()[d.line - 1].strip().startswith("beds:")


def test_an_expression_in_the_chinese_text_is_checked_too(write_runbook):
    text = BILINGUAL.replace('zh-CN: "确认${{ inputs.n }}人"', 'zh-CN: "确认${{ inputs.m }}人"')
    with pytest.raises(RunbookError) as exc:
        load_runbook(write_runbook(text))
    (d,) = exc.value.diagnostics
    assert d.code.startswith("RB2") and '"m"' in d.message
    assert "inputs.m" in text.splitlines()[d.line - 1]


def test_a_shipped_site_names_its_teams_in_both_languages_and_its_snapshot_keeps_them(xian):
    from runbooks.sites import Site

    assert text_in(xian.name, "zh-CN") == "西安客服中心" and xian.name == "Xi'an customer-service center"
    again = Site.from_snapshot(json.loads(json.dumps(xian.snapshot())))
    assert text_in(again.name, "zh-CN") == "西安客服中心"
    assert text_in(again.teams["it"]["name"], "zh-CN") == "IT支持"
    assert text_in(again.service["hotline"].name, "zh-CN") == "客服热线"


def test_the_json_schema_takes_a_text_or_one_per_language():
    schema = json.loads(CliRunner().invoke(app, ["schema"]).stdout)
    question = schema["$defs"]["MusterStep"]["properties"]["question"]
    mapping = next(s for s in question["anyOf"] if s.get("type") == "object")
    assert mapping["required"] == ["en"] and mapping["additionalProperties"] is False
    assert set(mapping["properties"]) == {"en", "zh-CN"}
