"""Chat robots and the SMS gateway against a local recording server: signatures checked the
way DingTalk and Feishu check them, a wrong secret dead-lettered clearly (and never printed),
throttling honoured without dropping (digests), SMS batching through a vendor template."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections import deque
from urllib.parse import parse_qs, urlparse

import pytest

from flows import notify
from flows.store import Store, utcnow
from notifications.outbox import Dispatcher, Policy
from runbooks.diagnostics import RunbookError
from runbooks.sites import load_site
from tests.support.recorder import Recorder

DING_SECRET = "SEC-ding-0123456789abcdef"
FEISHU_SECRET = "feishu-secret-0123456789"
FAST = Policy(
    batch=200,
    base=0.05,
    cap=0.4,
    breaker_failures=5,
    cooldown=0.2,
    cooldown_cap=0.4,
    lease=30,
    poll=0.02,
    rate_window=2.0,
)
STAFF = "id,name,team,role,phone,chat_id,lang\n" + "".join(
    f"S{i:04d},Person {i},{'it' if i < 300 else 'ops'},{'team_lead' if i in (0, 1) else 'agent'},"
    f"+86139{i:08d},uid{i},zh-CN\n"
    for i in range(600)
)


def site_dir(tmp_path, channels: str, default: str):
    d = tmp_path / "sites" / "robots"
    d.mkdir(parents=True)
    (d / "staff.csv").write_text(STAFF)
    (d / "site.yaml").write_text(f"""id: robots
name: Robot site
kind: lab
timezone: Asia/Shanghai
lang: zh-CN
teams:
  it: {{name: IT, leads: [S0000, S0001]}}
  ops: {{name: Ops, leads: [S0300]}}
channels:
{channels}
default_channel: {default}
""")
    return d


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("RUNBOOK_HOME", str(tmp_path / "home"))
    store = Store()
    yield store, tmp_path / "home"
    store.dispose()


def queue(store, site, event: str, targets: list[str], n: int = 1, scope: str = "s", task=None) -> None:
    now = utcnow()
    with store.transaction() as tx:
        for i in range(n):
            notify.queue(
                tx,
                site=site,
                run=None,
                event=event,
                now=now,
                targets=targets,
                context={},
                data={"i": i},
                scope_id=f"{scope}{i}",
                task=task,
            )


def ding_sign(timestamp: str, secret: str) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def test_dingtalk_and_feishu_requests_are_signed_as_the_vendors_check_them(env, tmp_path, monkeypatch):
    store, home = env
    with Recorder(lambda m, p, b: (200, {}, b'{"errcode":0,"errmsg":"ok","code":0}')) as robot:
        monkeypatch.setenv("RUNBOOK_OUTBOUND_ALLOW", f"127.0.0.1:{robot.port}")
        monkeypatch.setenv("DING_SECRET", DING_SECRET)
        site = load_site(
            site_dir(
                tmp_path,
                f"""  ding: {{kind: dingtalk, url: "{robot.url}/robot/send?access_token=T0K", secret: "${{{{ env.DING_SECRET }}}}"}}
  feishu: {{kind: feishu, url: "{robot.url}/open-apis/bot/v2/hook/abc", secret: {FEISHU_SECRET}}}
  chat: {{kind: wecom, url: "{robot.url}/cgi-bin/webhook/send?key=K"}}""",
                "ding",
            )
        )
        queue(store, site, "site.lockdown", ["channel:ding", "channel:feishu", "channel:chat"])
        Dispatcher(store, home, policy=FAST, echo=False).drain()
    by = {urlparse(r["path"]).path: r for r in robot.requests}
    ding = by["/robot/send"]
    query = parse_qs(urlparse(ding["path"]).query)
    assert query["access_token"] == ["T0K"] and abs(int(query["timestamp"][0]) - time.time() * 1000) < 60_000
    assert query["sign"] == [ding_sign(query["timestamp"][0], DING_SECRET)]
    assert ding["body"]["msgtype"] == "text" and ding["body"]["at"] == {"atUserIds": [], "isAtAll": False}
    assert ding["body"]["text"]["content"].startswith("Robot site实行封闭管理")
    feishu = by["/open-apis/bot/v2/hook/abc"]["body"]
    key = f"{feishu['timestamp']}\n{FEISHU_SECRET}".encode()
    assert feishu["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    assert feishu["msg_type"] == "text" and feishu["content"]["text"].startswith("Robot site")
    wecom = by["/cgi-bin/webhook/send"]["body"]
    assert wecom == {"msgtype": "text", "text": {"content": wecom["text"]["content"]}}


def test_a_wrong_dingtalk_secret_is_dead_lettered_with_the_vendors_reason_and_never_printed(
    env, tmp_path, monkeypatch, capsys
):
    store, home = env

    def strict(method, path, body):
        q = parse_qs(urlparse(path).query)
        ok = q.get("sign") == [ding_sign(q.get("timestamp", ["0"])[0], "the-real-secret")]
        return 200, {}, b'{"errcode":0}' if ok else b'{"errcode":310000,"errmsg":"sign not match"}'

    with Recorder(strict) as robot:
        monkeypatch.setenv("DING_SECRET", DING_SECRET)
        site = load_site(
            site_dir(
                tmp_path,
                f'  ding: {{kind: dingtalk, url: "{robot.url}/robot/send?access_token=T", '
                'secret: "${{ env.DING_SECRET }}"}',
                "ding",
            )
        )
        queue(store, site, "site.lockdown", ["channel:ding"])
        Dispatcher(store, home, policy=FAST, echo=False).drain()
        assert len(robot.requests) == 1, "not retried"
    with store.read() as r:
        (row,) = r.outbox()
    assert row["state"] == "dead" and "310000" in row["last_error"] and "wrong secret" in row["last_error"]
    assert DING_SECRET not in json.dumps(row, default=str) and DING_SECRET not in capsys.readouterr().out


def test_a_throttling_robot_never_gets_more_than_its_limit_and_nothing_is_dropped(env, tmp_path, monkeypatch):
    """The robot allows 20 messages per rolling window (2 s here, a minute in life) and answers
    WeCom's 45009 past it. 120 lockdown notices and 500 tasks assigned to one team go out."""
    store, home = env
    accepted: deque = deque()
    lock = threading.Lock()
    throttled = []

    def robot(method, path, body):
        now = time.monotonic()
        with lock:
            while accepted and accepted[0] <= now - FAST.rate_window:
                accepted.popleft()
            if len(accepted) >= 20:
                throttled.append(now)
                return 200, {}, b'{"errcode":45009,"errmsg":"api freq out of limit"}'
            accepted.append(now)
        return 200, {}, b'{"errcode":0,"errmsg":"ok"}'

    with Recorder(robot) as server:
        monkeypatch.setenv("RUNBOOK_OUTBOUND_ALLOW", f"127.0.0.1:{server.port}")
        site = load_site(site_dir(tmp_path, f'  chat: {{kind: wecom, url: "{server.url}/send?key=K"}}', "chat"))
        queue(store, site, "site.lockdown", ["channel:chat"], n=120, scope="lock")
        for i in range(500):
            task = {"id": f"setup:S{i:04d}", "title": f"Set up laptop {i}", "owner": "team:it", "state": "waiting"}
            queue(store, site, "task.assigned", ["team:it"], scope=f"t{i}", task=task)
        dispatcher = Dispatcher(store, home, policy=FAST, echo=False)
        stop = threading.Event()
        worker = threading.Thread(target=dispatcher.run, args=(stop,), daemon=True)
        worker.start()
        try:
            from tests.support.processes import wait_for

            wait_for(lambda: _counts(store).get("pending", 0) == 0, 120, what="everything delivered")
        finally:
            stop.set()
            worker.join(30)
    assert _counts(store) == {"sent": 120 + 1000}, "nothing dropped"
    times = [r["at"].timestamp() for r in server.requests]
    worst = max(sum(1 for t in times if s <= t < s + FAST.rate_window) for s in times)
    assert worst <= 20 and not throttled, f"at most 20 per rolling window (worst {worst})"
    digests = [r["body"]["text"]["content"] for r in server.requests if r["body"]["text"]["content"].startswith("共")]
    assert len(server.requests) <= 40 and digests, f"{len(server.requests)} messages for 1,120 notifications"
    leads = [r for r in server.requests if r["body"]["text"].get("mentioned_list")]
    assert {m for r in leads for m in r["body"]["text"]["mentioned_list"]} <= {"uid0", "uid1"}
    print(
        f"\n1,120 notifications → {len(server.requests)} robot messages ({len(digests)} digests), "
        f"worst rolling window {worst}/20"
    )


def _counts(store):
    with store.read() as r:
        return r.outbox_counts()


def test_sms_goes_through_the_vendor_template_in_batches_of_identical_texts(env, tmp_path, monkeypatch):
    store, home = env
    with Recorder(lambda m, p, b: (200, {}, b'{"code":"OK"}')) as gateway:
        monkeypatch.setenv("SMS_KEY", "sms-api-key-123456")
        site = load_site(
            site_dir(
                tmp_path,
                f"""  sms: {{kind: sms, url: "{gateway.url}/sms/batch", batch: 100,
         body: {{mobiles: "${{{{ recipients | join(',') }}}}", content: "${{{{ text }}}}", apiKey: "${{{{ env.SMS_KEY }}}}", ref: "${{{{ id }}}}"}}}}""",
                "sms",
            )
        )
        people = [f"person:S{i:04d}" for i in range(250)]
        queue(store, site, "site.lockdown", people, scope="all")  # one text to 250 people
        with store.transaction() as tx:  # personal texts: one call each
            for i in range(3):
                notify.queue(
                    tx,
                    site=site,
                    run=None,
                    event="muster.request",
                    now=utcnow(),
                    targets=[f"person:S{i:04d}"],
                    context={},
                    scope_id=f"m{i}",
                    data={"question": f"Where can you work, Person {i}?", "options": {"home": "Home"}},
                )
        Dispatcher(store, home, policy=FAST, echo=False).drain()
    calls = [r["body"] for r in gateway.requests]
    batched = [c for c in calls if "," in c["mobiles"]]
    assert [len(c["mobiles"].split(",")) for c in batched] == [100, 100, 50]
    assert all(c["apiKey"] == "sms-api-key-123456" and c["content"].startswith("Robot site") for c in batched)
    assert batched[0]["mobiles"].split(",")[:2] == ["+8613900000000", "+8613900000001"]
    assert len(calls) == 3 + 3 and _counts(store) == {"sent": 253}


def test_an_sms_template_naming_an_unknown_field_is_a_site_diagnostic(tmp_path):
    d = site_dir(tmp_path, '  sms: {kind: sms, url: "https://sms.example/send", body: {to: "${{ phone }}"}}', "sms")
    with pytest.raises(RunbookError) as e:
        load_site(d)
    (diag,) = e.value.diagnostics
    assert (diag.code, diag.line) == ("RB202", 10) and 'unknown name "phone"' in diag.message


def test_personal_sms_past_the_rate_limit_waits_and_is_never_merged_away(env, tmp_path):
    store, home = env
    with Recorder(lambda m, p, b: (200, {}, b'{"code":"OK"}')) as gateway:
        site = load_site(site_dir(tmp_path, f'  sms: {{kind: sms, url: "{gateway.url}/sms", per_minute: 5}}', "sms"))
        with store.transaction() as tx:
            for i in range(12):
                notify.queue(
                    tx,
                    site=site,
                    run=None,
                    event="muster.request",
                    now=utcnow(),
                    targets=[f"person:S{i:04d}"],
                    context={},
                    scope_id=f"m{i}",
                    data={"question": f"Where can you work, Person {i}?", "options": {"home": "Home"}},
                )
        dispatcher = Dispatcher(store, home, policy=FAST, echo=False)
        from tests.support.processes import wait_for

        wait_for(
            lambda: dispatcher.run_once() is not None and _counts(store) == {"sent": 12},
            60,
            interval=0.05,
            what="12 personal texts, 5 per window",
        )
    times = [r["at"].timestamp() for r in gateway.requests]
    assert len(times) == 12 and max(sum(1 for t in times if s <= t < s + FAST.rate_window) for s in times) <= 5
    assert sorted(r["body"]["to"] for r in gateway.requests) == [f"+86139{i:08d}" for i in range(12)]
