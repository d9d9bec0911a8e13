"""The outbox under failure: a destination down while 2,000 notifications wait (nothing lost,
attempts bounded by the breaker), the dispatcher SIGKILLed mid-way (nothing lost, duplicates
only under the same dedup key), messages that can never succeed (dead at once, re-queued by a
manager), Retry-After honoured."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import threading
import time
from collections import defaultdict

import pytest

from flows import notify
from flows.actors import local_operator
from flows.lifecycle import Engine
from flows.store import Store, utcnow
from notifications.outbox import Dispatcher, Policy
from runbooks.sites import load_site
from tests.support.processes import RUNBOOK, free_port, wait_for
from tests.support.recorder import Recorder

from .conftest import HOOK_SECRET, write_site

FAST = Policy(batch=200, base=0.05, cap=0.4, breaker_failures=5, cooldown=0.2, cooldown_cap=0.4, lease=30, poll=0.02)


@pytest.fixture
def down_site(tmp_path, monkeypatch):
    """The relay site with its webhook on a port where nothing listens (yet)."""
    port = free_port()
    write_site(tmp_path / "sites", f"http://127.0.0.1:{port}", free_port())
    home = tmp_path / "home"
    for k, v in {"RUNBOOK_HOME": str(home), "RELAY_HOOK_SECRET": HOOK_SECRET}.items():
        monkeypatch.setenv(k, v)
    store = Store()
    yield load_site(tmp_path / "sites" / "relay"), port, store, home
    store.dispose()


def queue_many(store: Store, site, n: int, scope: str) -> set[str]:
    now = utcnow()
    with store.transaction() as tx:
        for i in range(n):
            notify.queue(
                tx,
                site=site,
                run=None,
                event="site.lockdown",
                now=now,
                targets=["channel:hook"],
                context={},
                data={"i": i},
                scope_id=scope,
            )
    return {f"{scope}:-:site.lockdown:channel:hook:{i}" for i in range(1, n + 1)}


def counts(store: Store) -> dict[str, int]:
    with store.read() as r:
        return r.outbox_counts()


def test_a_destination_down_loses_nothing_and_is_probed_not_hammered(down_site):
    site, port, store, home = down_site
    expected = queue_many(store, site, 2000, "outage")
    dispatcher = Dispatcher(store, home, policy=FAST, echo=False)
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(stop,), daemon=True)
    started = time.monotonic()
    thread.start()
    try:

        def probes() -> int:
            breaker = dispatcher.breakers.get("relay/hook")
            return breaker.attempts if breaker else 0

        wait_for(lambda: probes() >= FAST.breaker_failures + 5, 60, interval=0.05, what="five probes of the dead hook")
        attempts, outage = probes(), time.monotonic() - started
        with Recorder(port=port) as hook:
            wait_for(lambda: counts(store).get("sent", 0) == 2000, 120, what="all 2,000 delivered after the outage")
            stop.set()
            thread.join(30)
    finally:
        stop.set()
    bound = FAST.breaker_failures + 1 + math.ceil(outage / FAST.cooldown)
    assert attempts <= bound, f"{attempts} attempts in a {outage:.1f} s outage; the breaker allows {bound}"
    got = [r["key"] for r in hook.requests]
    assert set(got) == expected, "every queued notification arrived, under its own dedup key"
    assert counts(store) == {"sent": 2000}
    print(
        f"\noutage {outage:.1f} s: {attempts} attempts for 2,000 waiting messages (bound {bound}); "
        f"{len(got)} deliveries after it, {len(got) - len(set(got))} repeated"
    )


def test_a_dispatcher_killed_mid_way_loses_nothing_and_repeats_only_under_the_same_key(down_site, tmp_path):
    site, port, store, home = down_site
    expected = queue_many(store, site, 2000, "kill")
    slow = lambda method, path, body: (time.sleep(0.002), (200, {}, b"{}"))[1]  # noqa: E731
    env = {**os.environ, "RUNBOOK_TIME_SCALE": "12"}  # lease 5 s: a killed batch is due again soon
    with Recorder(slow, port=port) as hook:
        log = tmp_path / "dispatch.log"

        def dispatch() -> subprocess.Popen:
            with open(log, "ab") as out:
                return subprocess.Popen(
                    [RUNBOOK, "dispatch"],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )

        first = dispatch()
        try:
            wait_for(lambda: len(hook.requests) >= 500, 60, what="the first dispatcher to be half-way")
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(30)
            before_kill = len(hook.requests)
            second = dispatch()
            try:
                wait_for(lambda: counts(store).get("sent", 0) == 2000, 120, what="a new dispatcher to finish")
            finally:
                os.killpg(second.pid, signal.SIGTERM)
                second.wait(30)
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
                first.wait(30)
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for r in hook.requests:
        bodies[r["key"]].add(r["raw"])
    assert set(bodies) == expected, "nothing lost"
    assert all(len(b) == 1 for b in bodies.values()), "a repeat is the same message under the same key"
    repeats = len(hook.requests) - len(bodies)
    assert repeats <= FAST.batch, f"{repeats} repeats: at most the batch the killed dispatcher held"
    print(f"\nkilled after {before_kill} deliveries; {repeats} repeated (same key) after the restart")


def test_a_message_that_can_never_succeed_is_dead_at_once_and_a_manager_requeues_it(down_site):
    site, port, store, home = down_site

    def answer(method, path, body):
        return (404, {}, b"gone") if hook_gone.is_set() else (200, {}, b"{}")

    hook_gone = threading.Event()
    hook_gone.set()
    keys = queue_many(store, site, 3, "gone")
    with Recorder(answer, port=port) as hook:
        Dispatcher(store, home, policy=FAST, echo=False).drain()
        assert len(hook.requests) == 3 and counts(store) == {"dead": 3}, "a 404 is not retried"
        engine = Engine(store)
        listed = engine.outbox()["notifications"]
        assert {n["id"] for n in listed} == keys and all(n["error"].startswith("HTTP 404") for n in listed)
        hook_gone.clear()
        assert engine.requeue(local_operator(), reason="hook fixed") == 3
        Dispatcher(store, home, policy=FAST, echo=False).drain()
    assert counts(store) == {"sent": 3}
    with store.read() as r:
        (entry,) = r.audit("outbox")
    assert (entry["action"], entry["reason"], entry["detail"]) == ("outbox.retry", "hook fixed", {"requeued": 3})


def test_retry_after_is_honoured(down_site):
    site, port, store, home = down_site
    queue_many(store, site, 1, "busy")
    calls: list[float] = []

    def busy(method, path, body):
        calls.append(time.monotonic())
        return (429, {"Retry-After": "2"}, b"") if len(calls) == 1 else (200, {}, b"{}")

    with Recorder(busy, port=port):
        dispatcher = Dispatcher(store, home, policy=FAST, echo=False)
        dispatcher.drain()
        wait_for(lambda: dispatcher.run_once() or counts(store).get("sent"), 30, what="the retry after 2 s")
    assert len(calls) == 2 and calls[1] - calls[0] >= 1.9


def test_runbook_outbox_lists_dead_messages_without_secrets(down_site, tmp_path):
    site, port, store, home = down_site
    queue_many(store, site, 1, "cli")
    with Recorder(lambda m, p, b: (400, {}, b"bad"), port=port):
        Dispatcher(store, home, policy=FAST, echo=False).drain()
    result = subprocess.run([RUNBOOK, "outbox", "--format", "json"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["counts"] == {"dead": 1} and data["notifications"][0]["error"].startswith("HTTP 400")
    assert HOOK_SECRET not in result.stdout
    text = subprocess.run([RUNBOOK, "outbox"], capture_output=True, text=True, timeout=60).stdout
    assert "dead" in text and "channel:hook" in text


def test_two_dispatchers_on_postgresql_send_each_message_once(tmp_path, monkeypatch, pg_url):
    """Replicas of `runbook serve` each run a dispatcher: on PostgreSQL they claim disjoint
    batches (FOR UPDATE SKIP LOCKED), so a healthy destination gets every message once."""
    from sqlalchemy import text

    from flows.store import metadata

    port = free_port()
    write_site(tmp_path / "sites", f"http://127.0.0.1:{port}", free_port())
    monkeypatch.setenv("RELAY_HOOK_SECRET", HOOK_SECRET)
    site = load_site(tmp_path / "sites" / "relay")
    store = Store(pg_url)
    try:
        with store.engine.begin() as conn:
            conn.execute(text("TRUNCATE " + ", ".join(t.name for t in metadata.sorted_tables) + " CASCADE"))
        expected = queue_many(store, site, 600, "replicas")
        policy = Policy(batch=25, base=0.05, cap=0.4, lease=60, poll=0.02)
        with Recorder(port=port) as hook:
            workers = [
                threading.Thread(target=Dispatcher(store, tmp_path, policy=policy, echo=False).drain) for _ in range(2)
            ]
            for w in workers:
                w.start()
            for w in workers:
                w.join(120)
        keys = [r["key"] for r in hook.requests]
        assert sorted(keys) == sorted(expected), "each message exactly once"
        assert counts(store) == {"sent": 600}
    finally:
        store.dispose()
