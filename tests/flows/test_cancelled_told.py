"""`task.cancelled` is told: an item cancelled because its person changed their answer is told
to the owner who had been given it ("new task: Laptop for Wu" → "cancelled: Laptop for Wu"); a
cancelled run sends each owner one message listing their cancelled work, not one per task; work
that never became anyone's (still pending) is not announced."""

from __future__ import annotations

import pytest

CENTER = """id: center
name: Call center
steps:
  - id: roll
    kind: muster
    owner: team:ops
    audience: [A0001, A0002, A0003, A0004]
    question: Where will you work?
    options: {home: From home, onsite: On site}
  - id: laptop
    kind: allocate
    for_each: "${{ steps.roll.answers.home }}"
    as: agent
    pool: laptops
    handover: true
    owner: team:it
    name: "Laptop for ${{ agent.name }}"
  - id: training
    kind: manual
    for_each: "${{ steps.roll.answers.home }}"
    as: agent
    needs: [laptop]
    owner: team:it
    name: "Training for ${{ agent.name }}"
  - id: badge
    kind: manual
    for_each: "${{ steps.roll.answers.onsite }}"
    as: agent
    owner: team:ops
    name: "Badge for ${{ agent.name }}"
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    d = tmp_path / "sites" / "cc"
    d.mkdir(parents=True)
    (d / "staff.csv").write_text(
        "id,name,team,role\nI0001,It Lead,it,team_lead\nI0002,It Deputy,it,team_lead\nO0001,Ops Lead,ops,team_lead\n"
        "A0001,Wu Fangning,ops,agent\nA0002,Zhang Ping,ops,agent\nA0003,Li Na,ops,agent\nA0004,Xu Lei,ops,agent\n"
    )
    (d / "laptops.csv").write_text("asset_tag,model,status\n" + "".join(f"LT-{i},X1,available\n" for i in range(6)))
    (d / "site.yaml").write_text(
        "id: cc\nname: CC\nkind: lab\nteams:\n  it: {name: IT, leads: [I0001, I0002]}\n  ops: {name: Ops, leads: [O0001]}\n"
        "channels:\n  console: {kind: console}\ndefault_channel: console\n"
        "pools:\n  laptops: {file: laptops.csv, key: asset_tag}\n"
    )
    monkeypatch.setenv("RUNBOOK_SITES", str(tmp_path / "sites"))


def _told(store, run, event="task.cancelled"):
    with store.read() as r:
        return [m for m in r.outbox(run_id=run) if m["event"] == event]


def test_a_changed_answer_tells_the_it_leads_their_laptop_task_is_cancelled(
    engine, operator, store, write_runbook, site
):
    run = engine.start(write_runbook(CENTER), "cc", operator)["id"]
    engine.answer(run, "roll", "A0001", "home", operator, via="lead")
    assert {m["recipient"] for m in _told(store, run, "task.assigned") if m["task_id"] == "laptop:A0001"} == {
        "person:I0001",
        "person:I0002",
    }
    engine.answer(run, "roll", "A0001", "onsite", operator, via="lead")
    told = _told(store, run)
    assert {(m["recipient"], m["task_id"]) for m in told} == {
        ("person:I0001", "laptop:A0001"),
        ("person:I0002", "laptop:A0001"),
    }, "the owner of the laptop is told; the training was still pending, never theirs"
    assert told[0]["message"]["subject"] == "Cancelled: Laptop for Wu Fangning"
    events = r_events_named(store, run, "task.cancelled")
    assert {e["task_id"] for e in events} == {"laptop:A0001", "training:A0001"}
    assert not [e for e in r_events_named(store, run, "task.done") if (e["data"] or {}).get("state") == "cancelled"]


def r_events_named(store, run, name):
    with store.read() as r:
        return [e for e in r.events(run) if e["name"] == name]


def test_a_cancelled_run_sends_each_owner_one_digest(engine, operator, store, write_runbook, site):
    run = engine.start(write_runbook(CENTER), "cc", operator)["id"]
    for agent in ("A0001", "A0002", "A0003"):
        engine.answer(run, "roll", agent, "home", operator, via="lead")
    engine.answer(run, "roll", "A0004", "onsite", operator, via="lead")
    engine.cancel(run, operator, reason="stand-down")
    told = _told(store, run)
    assert sorted(m["recipient"] for m in told) == ["person:I0001", "person:I0002", "person:O0001"], "one each"
    it = next(m for m in told if m["recipient"] == "person:I0001")["message"]
    assert it["subject"] == "Cancelled: 3 of your tasks in Call center"
    for agent in ("Wu Fangning", "Zhang Ping", "Li Na"):
        assert f"- Laptop for {agent}" in it["text"]
    assert "Training for" not in it["text"], "pending work never became theirs"
    assert "stand-down" in it["text"]
    ops = next(m for m in told if m["recipient"] == "person:O0001")["message"]
    assert "- Badge for Xu Lei" in ops["text"] and ops["subject"] == "Cancelled: 1 of your tasks in Call center"
    cancelled = r_events_named(store, run, "task.cancelled")
    assert len(cancelled) == 3 * 2 + 1 and all(e["data"]["digest"] for e in cancelled), "the roll call was done"
