"""Benchmark: 10,000 notifications through the outbox (rendered and queued in store
transactions, then delivered by the dispatcher to a local webhook sink) against a plain
`requests.Session` loop posting the same payloads to the same sink, in the same run.
Goal: outbox time <= 1.5x the plain loop.

    python bench/bench_notify.py [--count 10000] [--per-tx 50]

The sink is a local HTTP/1.1 server (keep-alive) answering 200; both sides post sequentially
to one destination, one connection.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.goals import report  # noqa: E402
from bench.sink import Sink  # noqa: E402
from bench.sink import start as start_sink

SITE = """id: bench
name: Benchmark site
kind: lab
teams:
  it: {{name: IT, leads: [B0001]}}
channels:
  hook: {{kind: webhook, url: "{url}/hook"}}
default_channel: hook
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--per-tx", type=int, default=50, help="notifications queued per store transaction")
    args = parser.parse_args()
    server, url = start_sink()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RUNBOOK_HOME"] = str(Path(tmp) / "home")
        os.environ.pop("RUNBOOK_DATABASE_URL", None)
        site_dir = Path(tmp) / "bench"
        site_dir.mkdir()
        (site_dir / "site.yaml").write_text(SITE.format(url=url))
        (site_dir / "staff.csv").write_text("id,name,team\nB0001,Bea Bench,it\n")

        import requests

        from flows import notify
        from flows.store import Store, runbook_home, utcnow
        from notifications.outbox import Dispatcher
        from runbooks.sites import load_site

        site = load_site(site_dir)
        store = Store()

        # Baseline: the same payloads (the generic webhook body) posted by a plain loop.
        payloads = [
            json.dumps(
                {
                    "id": f"b{i}:-:site.lockdown:channel:hook:1",
                    "event": "site.lockdown",
                    "site": "bench",
                    "run": None,
                    "task": None,
                    "recipient": "channel:hook",
                    "lang": "en",
                    "text": f"Benchmark site is in lockdown ({i})",
                    "link": None,
                    "drill": False,
                }
            ).encode()
            for i in range(args.count)
        ]
        session = requests.Session()
        t0 = time.perf_counter()
        for body in payloads:
            session.post(
                f"{url}/hook", data=body, headers={"Content-Type": "application/json"}, timeout=10
            ).raise_for_status()
        baseline = time.perf_counter() - t0

        Sink.bodies.clear()
        t0 = time.perf_counter()
        for start in range(0, args.count, args.per_tx):
            with store.transaction() as tx:
                for i in range(start, min(start + args.per_tx, args.count)):
                    notify.queue(
                        tx,
                        site=site,
                        run=None,
                        event="site.lockdown",
                        now=utcnow(),
                        targets=["channel:hook"],
                        context={},
                        scope_id=f"b{i}",
                    )
        queued = time.perf_counter() - t0
        Dispatcher(store, runbook_home(), echo=False).drain(timeout=600)
        ours = time.perf_counter() - t0
        with store.read() as r:
            sent = r.outbox_counts().get("sent", 0)
        store.dispose()
    server.shutdown()
    assert sent == args.count == len(Sink.bodies), (sent, len(Sink.bodies))
    ratio = ours / baseline
    print(
        f"{args.count} notifications: plain requests loop {baseline:.2f} s ({args.count / baseline:.0f}/s); "
        f"outbox {ours:.2f} s ({args.count / ours:.0f}/s; queueing {queued:.2f} s, delivery {ours - queued:.2f} s); "
        f"ratio {ratio:.2f}x (goal <= 1.5x) {'OK' if ratio <= 1.5 else 'MISSED'}"
    )
    report(__file__, "outbox_deliver_s", ours, baseline, "<= 1.5", notifications=args.count)


if __name__ == "__main__":
    main()
