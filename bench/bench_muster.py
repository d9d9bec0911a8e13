"""Benchmark: a roll call of 10,000 people answered through the HTTP endpoint (`POST /r/{token}`)
by concurrent clients (9 in 10 of them answer); each answer also creates that person's first pipeline task (a step fed
by the answer group), in the same transaction, so its latency is the answer → first task
actionable time. Baseline: a bare FastAPI endpoint doing one insert through the same store,
same clients, same run. Reports answers/s and latencies, and the time to open the roll call
(10,000 personal links and messages, by SMS to a local sink). Then the headcount (by team, the
unaccounted named) of the 10,000-person roll call over HTTP, median of 9, against reading the
same roll call's 10,000 links over HTTP.

    python bench/bench_muster.py [--people 10000] [--clients 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench import bigsite  # noqa: E402
from bench.bench_api import BIN, closed_loop, percentile, served  # noqa: E402
from bench.goals import report  # noqa: E402
from bench.sink import start as start_sink  # noqa: E402

RUNBOOK = """id: bench_roll
name: Roll call benchmark
steps:
  - id: roll
    kind: muster
    owner: team:ops
    audience: "${{ site.staff }}"
    question: Where can you work tomorrow?
    options: {onsite: On site, home: From home}
  - id: first_task
    kind: manual
    for_each: "${{ steps.roll.answers.home }}"
    as: agent
    key: "${{ agent.id }}"
    owner: team:ops
    name: "Laptop for ${{ agent.name }}"
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        library, sites = bigsite.write(tmp, args.people, "bench_roll", RUNBOOK)
        sink, sink_url = start_sink("/sms")
        env = {
            "BIG_SMS_URL": sink_url,
            "RUNBOOK_OUTBOUND_ALLOW": sink_url.split("/")[2],
            **os.environ,
            "RUNBOOK_HOME": str(Path(tmp) / "home"),
            "RUNBOOK_LIBRARY": str(library),
            "RUNBOOK_SITES": str(sites),
            "DO_NOT_TRACK": "1",
        }
        for key in ("RUNBOOK_DATABASE_URL", "RUNBOOK_URL"):
            env.pop(key, None)
        manager = subprocess.run(
            [BIN, "users", "add", "m", "--role", "manager"], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        try:
            with served(env, tmp) as (serve, bare, url, bare_url):
                auth = {"Authorization": f"Bearer {manager}"}
                t0 = time.perf_counter()
                run = requests.post(
                    url + "/api/runs", json={"runbook": "bench_roll", "site": "big"}, headers=auth, timeout=600
                ).json()["id"]
                opened = time.perf_counter() - t0
                links = requests.get(f"{url}/api/runs/{run}/muster/roll/links", headers=auth, timeout=600).json()
                # 90% answer: the headcount then names 1,000 unaccounted of 10,000
                tokens = [x["url"].rsplit("/r/", 1)[1] for x in links][: args.people * 9 // 10]
                per = len(tokens) // args.clients
                jobs = [tokens[i * per : (i + 1) * per] for i in range(args.clients)]

                def bare_act(session, i, token):
                    session.post(bare_url + "/bare", json={"task": token}, timeout=60).raise_for_status()

                def answer(session, i, token):
                    r = session.post(f"{url}/r/{token}", data={"option": "home"}, timeout=60)
                    assert r.status_code == 200, r.text[:300]

                bare_lat, bare_time = closed_loop(args.clients, jobs, bare_act)
                ans_lat, ans_time = closed_loop(args.clients, jobs, answer)
                n = per * args.clients
                tasks = requests.get(
                    f"{url}/api/runs/{run}/tasks",
                    params={"step": "first_task", "state": "waiting"},
                    headers=auth,
                    timeout=600,
                ).json()["tasks"]
                assert len(tasks) == n, (len(tasks), n)

                def median_get(path: str) -> tuple[float, Any]:
                    times, body = [], None
                    for _ in range(9):
                        t = time.perf_counter()
                        response = requests.get(url + path, headers=auth, timeout=600)
                        times.append(time.perf_counter() - t)
                        body = response.json()
                    return sorted(times)[4], body

                count_s, count = median_get(f"/api/runs/{run}/muster/roll/headcount")
                extra = {"people": args.people, "clients": args.clients, "answers": n}
                report(__file__, "muster_answers_per_s", n / ans_time, n / bare_time, ">= 0.5", **extra)
                # opening: 10,000 links and messages against one bare insert per person (the same clients' rate)
                report(__file__, "muster_open_s", opened, args.people * bare_time / n, "<= 5.0", **extra)
                from flows.roll_call_ops import RollCallOps
                from flows.store import Store

                store = Store(f"sqlite:///{Path(tmp) / 'home' / 'runbook.db'}")  # the same store, in this process
                ops, times = RollCallOps(store), []
                for _ in range(9):
                    t = time.perf_counter()
                    ops.compute_headcount(run, "roll")  # not the copy kept until the next event
                    times.append(time.perf_counter() - t)
                computed_s = sorted(times)[4]
                store.dispose()
                links_s, _ = median_get(f"/api/runs/{run}/muster/roll/links")
                assert count["answered"] == n and len(count["unaccounted"]) == args.people - n, count["answered"]
                print(
                    f"roll call of {args.people}: opened (links + messages) in {opened:.1f} s; {n} answers by "
                    f"{args.clients} clients: {n / ans_time:.0f}/s, p50 {percentile(ans_lat, 50) * 1000:.0f} ms, p99 "
                    f"{percentile(ans_lat, 99) * 1000:.0f} ms (answer → that person's first task waiting); bare insert "
                    f"{n / bare_time:.0f}/s, p50 {percentile(bare_lat, 50) * 1000:.0f} ms, p99 "
                    f"{percentile(bare_lat, 99) * 1000:.0f} ms; throughput ratio {(n / ans_time) / (n / bare_time):.2f}x"
                )
                print(
                    f"headcount of {args.people} ({count['unanswered']} unaccounted, named): computed in "
                    f"{computed_s * 1000:.0f} ms (median, in process, uncached); {count_s * 1000:.0f} ms over HTTP (kept "
                    f"until the next event); reading the "
                    f"same {args.people} links over HTTP {links_s * 1000:.0f} ms; "
                    f"ratio {count_s / links_s:.2f}x"
                )
        finally:
            sink.shutdown()


if __name__ == "__main__":
    main()
