"""Benchmark 7x24 coverage: 7 days × 48 intervals × 3 queues (1,008 intervals, 0 to 1,000 calls
each, random but seeded) through `Engine.coverage` against a plain loop of the same formula in
the same run — for each interval, traffic, then for N = ⌊A⌋+1, ⌊A⌋+2, … the Erlang B recursion
from scratch, Erlang C and the service level, until the target is met.

1. cold: the first read (no cache: the Erlang C search carried along one recursion, required
   agents memoised per load) vs the plain loop. The read builds the whole answer besides
   (local times, supply, the service level reached: a second Erlang computation per interval),
   so the goal is parity: ratio <= 1.
2. cached: the same read again with nothing changed (cached per change; the site re-read only
   when one of its files changed) vs the plain loop. Goal: ratio <= 0.1.
Both must give the same required agents for every interval. One JSON line per goal.

    python bench/bench_coverage.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUEUES = {"hotline": (180, 0.8, 20, 0.3), "vip": (240, 0.9, 10, 0.25), "email": (600, 0.8, 120, 0.2)}
NOW = dt.datetime(2030, 1, 7, 0, 0, tzinfo=dt.UTC)


def write_site(directory: Path) -> None:
    rng = random.Random(18)
    (directory / "staff.csv").write_text("id,name,team\nB0001,Bench Lead,ops\n")
    service = []
    for qid, (aht, ratio, within, shrinkage) in QUEUES.items():
        rows = ["weekday,start,calls"] + [
            f"{w},{m // 60:02d}:{m % 60:02d},{rng.randint(0, 1000)}" for w in range(1, 8) for m in range(0, 1440, 30)
        ]
        (directory / f"{qid}.csv").write_text("\n".join(rows) + "\n")
        base = ["weekday,start,agents"] + [
            f"{w},{m // 60:02d}:{m % 60:02d},{rng.randint(0, 150)}" for w in range(1, 8) for m in range(0, 1440, 30)
        ]
        (directory / f"{qid}_base.csv").write_text("\n".join(base) + "\n")
        service.append(
            f"  {qid}:\n    interval: 30m\n    aht: {aht}s\n    answer: {{ratio: {ratio}, within: {within}s}}\n"
            f"    shrinkage: {shrinkage}\n    demand: {qid}.csv\n    baseline: {qid}_base.csv\n"
        )
    (directory / "site.yaml").write_text(
        "id: benchsite\nname: Bench site\nkind: bench\ntimezone: Asia/Shanghai\n"
        "teams:\n  ops: {name: Ops, leads: [B0001]}\nservice:\n" + "".join(service)
    )


def plain_loop(directory: Path) -> dict[str, list[int]]:
    """The formula as one would first write it: no carried recursion, no memo."""
    out: dict[str, list[int]] = {}
    for qid, (aht, ratio, within, shrinkage) in QUEUES.items():
        rows = (directory / f"{qid}.csv").read_text().splitlines()[1:]
        required = []
        for row in rows:
            calls = int(row.split(",")[2])
            a = calls * aht / 1800
            if a == 0:
                required.append(0)
                continue
            n = math.floor(a) + 1
            while True:
                b = 1.0
                for k in range(1, n + 1):
                    b = a * b / (k + a * b)
                c = n * b / (n - a * (1 - b))
                if 1 - c * math.exp(-(n - a) * within / aht) >= ratio:
                    break
                n += 1
            required.append(math.ceil(round(n / (1 - shrinkage), 9)))
        out[qid] = required
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        site_dir = Path(tmp, "benchsite")
        site_dir.mkdir()
        write_site(site_dir)
        os.environ["RUNBOOK_HOME"] = str(Path(tmp, "home"))
        os.environ["RUNBOOK_SITES"] = tmp
        from flows import coverage_ops, erlang
        from flows.lifecycle import Engine
        from flows.store import Store

        store = Store()
        engine = Engine(store)
        cold, cached, base = [], [], []
        for _ in range(args.repeat):
            erlang.agents_needed.cache_clear()
            coverage_ops.clear_cache()
            t = time.perf_counter()
            ours = {q: engine.coverage("benchsite", queue=q, hours=168, now=NOW) for q in QUEUES}
            cold.append(time.perf_counter() - t)
            t = time.perf_counter()
            again = {q: engine.coverage("benchsite", queue=q, hours=168, now=NOW) for q in QUEUES}
            cached.append(time.perf_counter() - t)
            t = time.perf_counter()
            plain = plain_loop(site_dir)
            base.append(time.perf_counter() - t)
        store.dispose()
    # The window starts on Monday 08:00 local (00:00 UTC): rotate the plain loop's Monday-00:00 rows to match.
    for q in QUEUES:
        got = [r["required"] for r in ours[q]["intervals"]]
        want = plain[q][16:] + plain[q][:16]
        assert got == want, f"{q}: the engine and the plain loop disagree"
        assert again[q] == ours[q]
    intervals = sum(len(ours[q]["intervals"]) for q in QUEUES)
    baseline = min(base)
    for metric, value, goal in (("cold", min(cold), 1.0), ("cached", min(cached), 0.1)):
        ratio = value / baseline
        print(
            json.dumps(
                {
                    "bench": "coverage",
                    "metric": f"{metric}_seconds_{intervals}_intervals",
                    "ours": round(value, 4),
                    "baseline": round(baseline, 4),
                    "ratio": round(ratio, 3),
                    "goal": f"<= {goal}",
                    "met": ratio <= goal,
                }
            )
        )


if __name__ == "__main__":
    main()
