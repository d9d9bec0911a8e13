"""Benchmark: one text to 10,000 people by SMS through the outbox and a gateway that takes up to
100 numbers a call (`batch: 100`), against one request per person to the same gateway sink
with a plain `requests.Session` loop, in the same run. Reports both times and the calls made.

    python bench/bench_sms.py [--people 10000] [--batch 100]
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    Sink.answer = b'{"code":"OK"}'
    server, url = start_sink("/sms")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["RUNBOOK_HOME"] = str(Path(tmp) / "home")
        os.environ.pop("RUNBOOK_DATABASE_URL", None)
        site_dir = Path(tmp) / "site"
        site_dir.mkdir()
        (site_dir / "site.yaml").write_text(f"""id: bench
name: SMS benchmark site
kind: lab
teams:
  all: {{name: Everyone, leads: [P00000]}}
channels:
  sms: {{kind: sms, url: "{url}", batch: {args.batch}, body: {{mobiles: "${{{{ recipients | join(',') }}}}", content: "${{{{ text }}}}"}}}}
default_channel: sms
""")
        (site_dir / "staff.csv").write_text(
            "id,name,team,phone\n" + "".join(f"P{i:05d},Person {i},all,+86138{i:08d}\n" for i in range(args.people))
        )

        import requests

        from flows import notify
        from flows.store import Store, runbook_home, utcnow
        from notifications.outbox import Dispatcher
        from runbooks.sites import load_site

        site = load_site(site_dir)
        store = Store()
        people = [f"person:{p['id']}" for p in site.staff]

        session = requests.Session()
        t0 = time.perf_counter()
        for p in site.staff:
            session.post(
                url, json={"mobiles": p["phone"], "content": "Site in lockdown: stay home."}, timeout=10
            ).raise_for_status()
        plain = time.perf_counter() - t0
        plain_calls = len(Sink.bodies)
        Sink.bodies.clear()

        t0 = time.perf_counter()
        with store.transaction() as tx:
            notify.queue(
                tx,
                site=site,
                run=None,
                event="site.lockdown",
                now=utcnow(),
                targets=people,
                context={},
                scope_id="bench",
            )
        queued = time.perf_counter() - t0
        Dispatcher(store, runbook_home(), echo=False).drain(timeout=600)
        ours = time.perf_counter() - t0
        with store.read() as r:
            sent = r.outbox_counts().get("sent", 0)
        store.dispose()
    server.shutdown()
    numbers = sum(len(str(json.loads(b).get("mobiles", "")).split(",")) for b in Sink.bodies)
    assert sent == args.people == numbers, (sent, numbers)
    print(
        f"{args.people} people: one request each {plain:.2f} s ({plain_calls} calls); outbox with batch "
        f"{args.batch}: {ours:.2f} s ({len(Sink.bodies)} calls; queueing {queued:.2f} s, delivery {ours - queued:.2f} s); "
        f"{plain / ours:.1f}x faster, {plain_calls / max(1, len(Sink.bodies)):.0f}x fewer calls"
    )
    report(__file__, "sms_batched_s", ours, plain, "<= 1.0", people=args.people, calls=len(Sink.bodies))


if __name__ == "__main__":
    main()
