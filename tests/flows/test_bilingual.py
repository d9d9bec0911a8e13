"""A run of a bilingual runbook: a task keeps its title in both languages, a zh-CN reader and
an en reader of the same task each get it in theirs (notification and page data), and an SMS
reply in Chinese counts as the option it names."""

from __future__ import annotations

import shutil

import pytest

from flows.actors import Actor
from flows.errors import Invalid
from runbooks.texts import Texts, text_in
from tests.conftest import LAB

RUNBOOK = """id: bilingual
name: {en: Bilingual drill, zh-CN: 双语演练}
inputs:
  n: {type: integer, default: 3}
notify:
  - {on: [task.assigned], to: ["person:L0010"]}
steps:
  - id: roll
    kind: muster
    owner: team:operations
    audience: "${{ site.staff }}"
    question: {en: "Where can you work?", zh-CN: "您在哪里工作？"}
    options:
      onsite: {en: On site, zh-CN: 驻场}
      home: {en: From home, zh-CN: 居家}
  - id: confirm
    kind: manual
    owner: team:it
    name: {en: "Confirm ${{ inputs.n }} desks", zh-CN: "确认${{ inputs.n }}个工位"}
  - id: thanks
    kind: manual
    needs: [confirm]
    owner: team:it
    name: {en: "Thank ${{ site.name }}", zh-CN: "感谢${{ site.name }}"}
"""
GATEWAY = Actor("sms-gateway", "gateway")


@pytest.fixture
def bilingual_site(tmp_path):
    """The lab with a language per person: Ada (IT's lead) and Bo read Chinese, Di English."""
    site = tmp_path / "lab"
    shutil.copytree(LAB / "sites" / "lab", site)
    yaml = (site / "site.yaml").read_text().replace("name: Test lab", "name: {en: Test lab, zh-CN: 测试实验室}")
    (site / "site.yaml").write_text(yaml)
    lines = (site / "staff.csv").read_text().splitlines()
    langs = {"L0001": "zh-CN", "L0002": "zh-CN", "L0010": "en"}
    rows = [lines[0] + ",lang"] + [f"{line},{langs.get(line.split(',')[0], '')}" for line in lines[1:]]
    (site / "staff.csv").write_text("\n".join(rows) + "\n")
    return site


def test_a_task_keeps_its_title_in_both_languages(engine, operator, store, write_runbook, bilingual_site):
    run = engine.start(write_runbook(RUNBOOK), bilingual_site, operator)["id"]
    with store.read() as r:
        row = r.task(run, "confirm")
    assert row["titles"] == {"en": "Confirm 3 desks", "zh-CN": "确认3个工位"}
    assert isinstance(row["title"], Texts) and row["title"] == "Confirm 3 desks"
    with store.read() as r:
        assert r.task(run, "thanks")["titles"] == {"en": "Thank Test lab", "zh-CN": "感谢测试实验室"}
    (task,) = [t for t in engine.tasks(run) if t["id"] == "confirm"]
    assert text_in(task["title"], "zh-CN") == "确认3个工位" and text_in(task["title"], "en") == "Confirm 3 desks"


def test_a_chinese_reader_and_an_english_reader_of_the_same_task_each_get_theirs(
    engine, operator, store, write_runbook, bilingual_site
):
    run = engine.start(write_runbook(RUNBOOK), bilingual_site, operator)["id"]
    with store.read() as r:
        assigned = {m["recipient"]: m for m in r.outbox(run_id=run) if m["event"] == "task.assigned"}
    ada, di = assigned["person:L0001"], assigned["person:L0010"]
    assert ada["lang"] == "zh-CN" and "确认3个工位" in ada["message"]["text"]
    assert "Confirm 3 desks" not in ada["message"]["text"]
    assert di["lang"] == "en" and "Confirm 3 desks" in di["message"]["text"]
    assert "确认" not in di["message"]["text"]
    # The roll call's question and options reach each person in their language too.
    with store.read() as r:
        asked = {m["recipient"]: m for m in r.outbox(run_id=run) if m["event"] == "muster.request"}
    assert (
        "您在哪里工作？" in asked["person:L0002"]["message"]["text"]
        and "居家" in asked["person:L0002"]["message"]["text"]
    )
    assert "Where can you work?" in asked["person:L0010"]["message"]["text"]
    assert "From home" in asked["person:L0010"]["message"]["text"]


def test_an_sms_reply_in_chinese_is_counted_as_the_option_it_names(engine, operator, write_runbook, bilingual_site):
    run = engine.start(write_runbook(RUNBOOK), bilingual_site, operator)["id"]
    engine.answer_sms("+44 1000 000002", " 居家 ", GATEWAY)  # Bo, by the Chinese label
    engine.answer_sms("+441000000010", "On site", GATEWAY)  # Di, by the English one
    counts = engine.headcount(run, "roll")
    assert counts["options"] == {"onsite": 1, "home": 1}
    with pytest.raises(Invalid, match="not an answer"):
        engine.answer_sms("+441000000001", "在家", GATEWAY)  # not a label in either language
