"""Reminders and escalation ladders, driven through the runner's transactions with
RUNBOOK_TIME_SCALE (an hour passes in a second): the exact messages, in order, one escalation,
no implicit approval, and a check-off that stops the reminders."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from flows import work
from flows.store import utcnow
from flows.timers import quiet_until
from runbooks.sites import load_site
from tests.conftest import LAB
from tests.support.processes import wait_for

LADDER = """id: ladder
name: Reminder ladder
steps:
  - id: sign
    kind: approval
    owner: team:it
    name: Sign the change
    due: 2h
    remind: {every: 30m, max: 3}
    escalate: {after: 90m, to: role:manager}
  - id: quick
    kind: manual
    owner: team:operations
    name: Quick one
    remind: {every: 30m, max: 5}
"""


def messages(store, run):
    with store.read() as r:
        return [
            (m["event"], m["task_id"], m["recipient"], m["key"].rsplit(":", 1)[1])
            for m in r.outbox(run_id=run)
            if m["task_id"]
        ]


def test_a_stalled_approval_is_reminded_three_times_then_escalated_once_and_never_approved(
    engine, operator, store, monkeypatch, write_runbook
):
    monkeypatch.setenv("RUNBOOK_TIME_SCALE", "1800")  # 30m = 1 s: a second between timers, for slow machines
    run = engine.start(write_runbook(LADDER), "lab", operator)["id"]
    with store.transaction() as tx:
        assert tx.acquire_lease(run, "runner-t", utcnow() + timedelta(seconds=120), utcnow())
    started = time.monotonic()
    reminded_quick = False
    while time.monotonic() - started < 6.0:  # 6 s = 3 h at this scale
        work.claim(store, run, "runner-t")
        if not reminded_quick and ("task.reminder", "quick", "person:L0010", "1") in messages(store, run):
            engine.complete(run, "quick", operator, reason="done by phone")  # stops its reminders
            reminded_quick = True
        time.sleep(0.05)
    sign = [m for m in messages(store, run) if m[1] == "sign"]
    assert sign == [
        ("approval.requested", "sign", "person:L0001", "1"),
        ("task.reminder", "sign", "person:L0001", "1"),
        ("task.reminder", "sign", "person:L0001", "2"),
        ("task.escalated", "sign", "person:L0020", "1"),
        ("task.reminder", "sign", "person:L0001", "3"),
        ("task.overdue", "sign", "person:L0001", "1"),
    ], sign
    quick = [m for m in messages(store, run) if m[1] == "quick"]
    assert [m[0] for m in quick] == ["task.assigned", "task.reminder"], "the check-off stopped the reminders"
    task = engine.tasks(run, step="sign")[0]
    assert task["state"] == "waiting", "a timer never approves"
    entries = [e for e in engine.audit(run)["entries"] if e["action"] == "task.escalate"]
    assert len(entries) == 1 and entries[0]["detail"]["to"] == "role:manager"
    with store.read() as r:
        row = r.task(run, "sign")
    assert row["timer_at"] is None and row["reminders"] == 3


def test_reminders_wait_out_quiet_hours_and_escalations_do_not(engine, operator, store, monkeypatch, tmp_path):
    site = load_site(LAB / "sites" / "lab")
    night = datetime(2026, 11, 28, 23, 30, tzinfo=UTC)  # Europe/London: 23:30
    assert quiet_until(site, night) is None, "no quiet hours declared"
    from dataclasses import replace

    quiet = replace(site, quiet_hours=("22:00", "07:00"))
    assert quiet_until(quiet, night) == datetime(2026, 11, 29, 7, 0, tzinfo=UTC)
    assert quiet_until(quiet, night.replace(hour=12)) is None
    early = datetime(2026, 11, 29, 6, 59, tzinfo=UTC)
    assert quiet_until(quiet, early) == datetime(2026, 11, 29, 7, 0, tzinfo=UTC)


def test_one_runner_down_for_a_while_sends_one_reminder_not_a_burst(
    engine, operator, store, monkeypatch, write_runbook
):
    monkeypatch.setenv("RUNBOOK_TIME_SCALE", "3600")
    run = engine.start(write_runbook(LADDER), "lab", operator)["id"]
    with store.transaction() as tx:
        assert tx.acquire_lease(run, "runner-t", utcnow() + timedelta(seconds=120), utcnow())
    actionable = engine.tasks(run, step="quick")[0]["actionable_at"]
    wait_for(
        lambda: utcnow() >= datetime.fromisoformat(actionable) + timedelta(seconds=1.2),
        10,
        what="the runner to have been down past two reminder times of quick (0.5 s, 1.0 s)",
    )
    work.claim(store, run, "runner-t")
    quick = [m for m in messages(store, run) if m[1] == "quick"]
    assert [m[0] for m in quick] == ["task.assigned", "task.reminder"]
    with store.read() as r:
        assert r.task(run, "quick")["reminders"] == 2, "the missed one is counted, not sent"


def test_quiet_hours_hold_reminders_but_not_the_escalation(
    engine, operator, store, monkeypatch, write_runbook, tmp_path
):
    import shutil

    site = tmp_path / "sites" / "lab"
    shutil.copytree(LAB / "sites" / "lab", site)
    with open(site / "site.yaml", "a") as f:
        f.write('quiet_hours: {from: "00:00", to: "00:00"}\n')  # quiet all day
    monkeypatch.setenv("RUNBOOK_SITES", str(tmp_path / "sites"))
    monkeypatch.setenv("RUNBOOK_TIME_SCALE", "3600")
    run = engine.start(write_runbook(LADDER), "lab", operator)["id"]
    with store.transaction() as tx:
        assert tx.acquire_lease(run, "runner-t", utcnow() + timedelta(seconds=120), utcnow())
    wait_for(
        lambda: work.claim(store, run, "runner-t") and any(m[0] == "task.escalated" for m in messages(store, run)),
        30,
        interval=0.05,
        what="the escalation, quiet hours or not",
    )
    assert [m[0] for m in messages(store, run) if m[0] == "task.reminder"] == [], "reminders wait for the morning"


def test_an_objective_not_met_at_three_quarters_of_its_time_is_at_risk_once(
    engine, operator, store, monkeypatch, write_runbook
):
    monkeypatch.setenv("RUNBOOK_TIME_SCALE", "3600")  # 4h = 4 s: at risk after 3 s
    run = engine.start(
        write_runbook("""id: goals
name: Goals
objectives:
  - {id: signed, name: Change signed, count: sign, target: 1, within: 4h}
  - {id: quick, name: Quick done, count: quick, target: 1, within: 4h}
notify:
  - {on: [objective.at_risk], to: [role:manager]}
steps:
  - {id: sign, kind: approval, owner: team:it, name: Sign}
  - {id: quick, kind: manual, owner: team:operations, name: Quick}
"""),
        "lab",
        operator,
    )["id"]
    engine.complete(run, "quick", operator, reason="done")
    with store.transaction() as tx:
        assert tx.acquire_lease(run, "runner-o", utcnow() + timedelta(seconds=60), utcnow())

    def at_risk():
        work.claim(store, run, "runner-o")
        with store.read() as r:
            return r.events_named(run, "objective.at_risk")

    (event,) = wait_for(at_risk, 30, interval=0.1, what="objective.at_risk")
    assert event["data"]["objective"] == "signed" and event["data"]["value"] == 0.0
    for _ in range(5):
        work.claim(store, run, "runner-o")
    with store.read() as r:
        assert len(r.events_named(run, "objective.at_risk")) == 1, "once"
        (message,) = [m for m in r.outbox(run_id=run) if m["event"] == "objective.at_risk"]
    assert message["recipient"] == "person:L0020" and "Change signed" in message["message"]["text"]
