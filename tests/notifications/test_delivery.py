"""Every channel against a real receiver: the HTTP formats field by field (HMAC verified), mail
through a real SMTP server with STARTTLS, routing to owners by the roster, languages, drills,
and hostile text rendered harmlessly."""

from __future__ import annotations

import hashlib
import hmac
import json
import os

import pytest

from flows.actors import local_operator
from flows.lifecycle import Engine
from flows.store import Store
from notifications.outbox import Dispatcher

from .conftest import HOOK_SECRET

HOSTILE = '<script>alert(1)</script> @all <!channel> **bold** [x](http://evil.example) <at user_id="all"></at>'


@pytest.fixture
def store(relay):
    s = Store()
    yield s
    s.dispose()


def start(store, write_runbook, text: str, *, drill: bool = False) -> str:
    return Engine(store).start(write_runbook(text), "relay", local_operator(), drill=drill)["id"]


def deliver(store, home) -> Dispatcher:
    dispatcher = Dispatcher(store, home, echo=False)
    dispatcher.drain()
    return dispatcher


def outbox(store, run=None):
    with store.read() as r:
        return {row["recipient"] + "/" + row["event"]: row for row in r.outbox(run_id=run)}


def test_a_notify_step_reaches_every_channel_kind_in_its_own_format(store, relay, recorder, mail, write_runbook):
    run = start(
        store,
        write_runbook,
        f"""id: shout
name: Shout
steps:
  - id: shout
    kind: notify
    to: [channel:hook, channel:slack, channel:teams, channel:chat, channel:ding, channel:feishu, channel:mail]
    message: '{HOSTILE}'
""",
    )
    assert Engine(store).tasks(run)[0]["state"] == "done", "a notify step is done once its messages are queued"
    deliver(store, relay)
    by_path = {r["path"].split("?")[0]: r for r in recorder.requests}
    key = f"{run}:shout:notify:channel:hook:1"

    hook = by_path["/hook"]
    assert hook["body"] == {
        "id": key,
        "event": "notify",
        "site": "relay",
        "run": run,
        "task": "shout",
        "recipient": "channel:hook",
        "lang": "en",
        "text": HOSTILE,
        "link": f"https://runbook.example/runs/{run}/tasks/shout",
        "drill": False,
    }
    assert hook["key"] == key and hook["headers"]["X-Runbook-Event"] == "notify"
    t, v1 = (part.split("=", 1)[1] for part in hook["headers"]["X-Runbook-Signature"].split(","))
    expected = hmac.new(HOOK_SECRET.encode(), f"{t}.".encode() + hook["raw"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(v1, expected), "the HMAC covers the timestamp and the exact body bytes"

    slack = by_path["/slack"]["body"]
    assert slack["mrkdwn"] is False and "<" not in slack["text"] and "&lt;!channel&gt;" in slack["text"]
    assert "&lt;script&gt;" in slack["text"]

    card = by_path["/teams"]["body"]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    runs = [i for block in card["content"]["body"] for i in block["inlines"]]
    assert all(i["type"] == "TextRun" for i in runs), "TextRuns: never read as markdown"
    assert runs[1]["text"] == HOSTILE and card["content"]["actions"][0]["url"].endswith("/tasks/shout")

    wecom = by_path["/wecom"]
    assert wecom["body"] == {"msgtype": "text", "text": {"content": HOSTILE}}, "no mention list: @all pings nobody"
    assert by_path["/ding"]["body"]["at"] == {"atUserIds": [], "isAtAll": False}
    feishu = by_path["/feishu"]["body"]
    assert (
        feishu["msg_type"] == "text" and "<at" not in feishu["content"]["text"] and "＜at" in feishu["content"]["text"]
    )

    (got,) = mail.messages
    assert got["tls"] and got["to"] == ["ops@relay.example"]
    html = got["message"].get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert HOSTILE in got["message"].get_body(("plain",)).get_content()
    assert got["message"]["X-Runbook-Id"] == f"{run}:shout:notify:channel:mail:1"
    assert {row["state"] for row in outbox(store, run).values()} == {"sent"}


def test_owners_hear_in_their_language_on_the_channel_that_reaches_them(store, relay, recorder, mail, write_runbook):
    run = start(
        store,
        write_runbook,
        """id: owned
name: Owned work
steps:
  - {id: fix, kind: manual, owner: team:it, name: Fix the VPN, due: 2h}
  - {id: check, kind: manual, owner: team:ops, name: Check the floor}
  - {id: sign, kind: approval, owner: role:manager, name: Sign off}
""",
    )
    deliver(store, relay)
    rows = outbox(store, run)
    # R0001 has an email (first channel that reaches her) and reads Chinese.
    wang = rows["person:R0001/task.assigned"]
    assert (wang["channel"], wang["lang"], wang["state"]) == ("mail", "zh-CN", "sent")
    (mail_to_wang,) = [m for m in mail.messages if m["to"] == ["r0001@relay.example"]]
    assert mail_to_wang["message"]["Subject"] == "新任务：Fix the VPN", "RFC 2047 subject decodes to the Chinese text"
    assert "Subject: =?utf-8?" in mail_to_wang["message"].as_string()
    assert "2h" not in mail_to_wang["message"].get_body(("plain",)).get_content()  # due shown as local time
    assert "CST" in mail_to_wang["message"].get_body(("plain",)).get_content()
    # R0002 has only a chat id: WeCom, mentioned by it, in English.
    sam = [r for r in recorder.requests if r["path"].startswith("/wecom")][0]["body"]
    assert sam["text"]["mentioned_list"] == ["wx_r0002"] and sam["text"]["content"].startswith(
        "Task for you: Fix the VPN"
    )
    # R0003 is on no personal channel: the generic webhook names them.
    hook = [r["body"] for r in recorder.requests if r["path"] == "/hook"]
    assert [h["recipient"] for h in hook] == ["person:R0003"] and h_key(
        hook[0]
    ) == f"{run}:check:task.assigned:person:R0003:1"
    # R0004's mail server refuses the address for good: dead at once, not retried forever.
    mia = rows["person:R0004/approval.requested"]
    assert (mia["state"], mia["attempts"]) == ("dead", 1) and "550" in mia["last_error"]


def h_key(body: dict) -> str:
    return body["id"]


def test_a_drill_goes_to_the_drill_channel_marked_unless_a_step_says_send(store, relay, recorder, write_runbook):
    run = start(
        store,
        write_runbook,
        """id: drilled
name: Drilled
notify:
  - {on: [run.started], to: [channel:slack]}
steps:
  - {id: fix, kind: manual, owner: team:it, name: Fix it}
  - {id: tell, kind: notify, to: [channel:hook], message: for real, drill: send}
""",
        drill=True,
    )
    deliver(store, relay)
    rows = outbox(store, run)
    assert {k: r["channel"] for k, r in rows.items()} == {
        "channel:slack/run.started": "console",
        "person:R0001/task.assigned": "console",
        "person:R0002/task.assigned": "console",
        "channel:hook/notify": "hook",
    }
    assert rows["person:R0001/task.assigned"]["message"]["text"].startswith("[演练] 新任务")
    assert rows["person:R0001/task.assigned"]["message"]["text"].endswith("(→ Wang Fang)")
    (hook,) = [r["body"] for r in recorder.requests]
    assert hook["drill"] is True and hook["text"] == "[DRILL] for real"
    lines = [json.loads(x) for x in (relay / "console.jsonl").read_text().splitlines()]
    assert sorted(x["recipient"] for x in lines) == ["channel:slack", "person:R0001", "person:R0002"]


def test_runbook_rules_templates_and_repeats_get_their_own_dedup_keys(store, relay, recorder, write_runbook):
    run = start(
        store,
        write_runbook,
        """id: ruled
name: Ruled
templates:
  fixed:
    en: "Fixed: ${{ task.title }}\\n\\nDone by the IT team. ${{ link }}"
    zh-CN: "已修复：${{ task.title }}"
notify:
  - {on: [task.done], to: [team:it], template: fixed}
steps:
  - {id: fix, kind: manual, owner: team:ops, name: Fix <b>it</b>}
  - {id: later, kind: manual, owner: team:ops, name: Later, needs: [fix]}
""",
    )
    engine = Engine(store)
    engine.complete(run, "fix", local_operator())
    deliver(store, relay)
    rows = outbox(store, run)
    assert rows["person:R0001/task.done"]["message"]["subject"] == "已修复：Fix <b>it</b>"
    (sam,) = [r["body"] for r in recorder.requests if r["path"].startswith("/wecom")]
    assert (
        sam["text"]["content"]
        == f"Fixed: Fix <b>it</b>\n\nDone by the IT team. https://runbook.example/runs/{run}/tasks/fix"
    )
    # A task handed away and back tells its owner again: n counts the repeats.
    engine.reassign(run, "later", local_operator(), reason="IT has people free", to="team:it")
    engine.reassign(run, "later", local_operator(), reason="back to ops", to="team:ops")
    with store.read() as r:
        keys = [
            row["key"]
            for row in r.outbox(run_id=run)
            if row["recipient"] == "person:R0003" and row["task_id"] == "later"
        ]
    assert keys == [f"{run}:later:task.assigned:person:R0003:1", f"{run}:later:task.assigned:person:R0003:2"]


def test_the_lockdown_is_announced_on_the_default_channel(store, relay, recorder, write_runbook):
    engine = Engine(store)
    runs, created = engine.lockdown("relay", local_operator())
    deliver(store, relay)
    (hook,) = [r["body"] for r in recorder.requests if r["path"] == "/hook"]
    assert hook["event"] == "site.lockdown" and hook["recipient"] == "channel:hook" and hook["run"] is None
    assert hook["text"].startswith("Site lockdown: Relay site") and hook["id"].endswith(
        ":-:site.lockdown:channel:hook:1"
    )


def test_a_reached_objective_is_announced_and_a_template_error_never_blocks_the_change(store, relay, write_runbook):
    run = start(
        store,
        write_runbook,
        (
            """id: goal
name: Goal
objectives:
  - {id: fixed, name: Everything fixed, count: fix, target: 1, within: 1h}
notify:
  - {on: [objective.reached], to: [channel:hook]}
steps:
  - {id: fix, kind: manual, owner: team:it, name: Fix it}
"""
        ),
    )
    Engine(store).complete(run, "fix", local_operator())
    with store.read() as r:
        (goal,) = [m for m in r.outbox(run_id=run) if m["event"] == "objective.reached"]
    assert "Everything fixed" in goal["message"]["subject"] and "template error" not in goal["message"]["text"]
    # A template that cannot render these data falls back to plain text; the check-off stands.
    from flows.notify import render_message

    subject, text = render_message(
        "objective.reached",
        "en",
        {"site": {"name": "Relay"}, "data": {}, "link": None, "task": None, "run": None},
        {},
        None,
        {},
    )
    assert subject == "objective.reached: Relay" and "template error" in text


def test_a_channel_url_from_the_environment_to_a_loopback_address_must_be_allowed(
    store, relay, recorder, monkeypatch, write_runbook
):
    # docs/language.md: a channel URL from the environment is the site's, but a loopback or
    # private address it resolves to must be in RUNBOOK_OUTBOUND_ALLOW (checked at connect time).
    allow = os.environ["RUNBOOK_OUTBOUND_ALLOW"]
    monkeypatch.delenv("RUNBOOK_OUTBOUND_ALLOW")
    text = """id: envurl
name: Env URL
steps:
  - {id: tell, kind: notify, to: [channel:chat], message: hello}
"""
    run = start(store, write_runbook, text)
    deliver(store, relay)
    refused = outbox(store, run)["channel:chat/notify"]
    assert refused["state"] == "dead" and "a channel URL from the environment" in refused["last_error"]
    assert "loopback address" in refused["last_error"] and recorder.requests == []

    monkeypatch.setenv("RUNBOOK_OUTBOUND_ALLOW", allow)
    run = start(store, write_runbook, text.replace("envurl", "envurl2"))
    deliver(store, relay)
    assert outbox(store, run)["channel:chat/notify"]["state"] == "sent"
    assert [r["body"]["text"]["content"] for r in recorder.requests] == ["hello"]


def test_a_cancelled_run_reaches_each_owner_once_listing_their_tasks(store, relay, recorder, mail, write_runbook):
    run = start(
        store,
        write_runbook,
        """id: many
name: Many tasks
steps:
  - {id: vpn, kind: manual, owner: team:it, name: Fix the VPN}
  - {id: badges, kind: manual, owner: team:it, name: Print badges}
  - {id: desks, kind: manual, owner: team:it, name: Move desks}
  - {id: later, kind: manual, owner: team:it, needs: [vpn], name: Never announced}
""",
    )
    deliver(store, relay)
    mail.messages.clear()
    recorder.requests.clear()
    Engine(store).cancel(run, local_operator(), reason="stand-down")
    deliver(store, relay)
    cancelled = [r for r in outbox(store, run).values() if r["event"] == "task.cancelled"]
    assert sorted(r["recipient"] for r in cancelled) == ["person:R0001", "person:R0002"]
    assert all(r["state"] == "sent" for r in cancelled)
    (wang,) = [m for m in mail.messages if m["to"] == ["r0001@relay.example"]]
    text = wang["message"].get_body(("plain",)).get_content()
    assert wang["message"]["Subject"] == "已取消：您在“Many tasks”中的3项任务"
    assert "- Fix the VPN" in text and "- Move desks" in text and "Never announced" not in text
    (sam,) = [r["body"] for r in recorder.requests if r["path"].startswith("/wecom")]
    assert sam["text"]["content"].startswith("Cancelled: 3 of your tasks in Many tasks")
    assert "stand-down" in sam["text"]["content"]
