"""CPU of one check-off, sequential (no concurrency, so no group commit): `bench_checkoff.py`'s
run of N first-step items, 20 check-offs to warm up, then N - 20 timed by this process's CPU
clock; with a sort key (cumulative, tottime) also profiled with cProfile (the profile's own cost
inflates what it measures, deep copies and small calls most: use it to rank, not to time).

    python bench/checkoff_cpu.py [N] [cumulative|tottime]
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_checkoff import RUNBOOK  # noqa: E402


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 320
    sort = sys.argv[2] if len(sys.argv) > 2 else None
    from flows.actors import local_operator
    from flows.lifecycle import Engine
    from flows.store import Store

    tmp = Path(tempfile.mkdtemp())
    os.environ["RUNBOOK_HOME"] = str(tmp)
    runbook = tmp / "bench_pipeline.yaml"
    runbook.write_text(RUNBOOK)
    store = Store(f"sqlite:///{tmp / 'runbook.db'}")
    engine = Engine(store)
    me = local_operator()
    run = engine.start(runbook, str(ROOT / "runbooks" / "sites" / "xian"), me, inputs={"n": n})["id"]
    for i in range(20):
        engine.complete(run, f"first:{i}", me, fields={"asset": f"LT-{i:04d}"})
    profile = cProfile.Profile()
    cpu, wall = time.process_time(), time.perf_counter()
    if sort:
        profile.enable()
    for i in range(20, n):
        engine.complete(run, f"first:{i}", me, fields={"asset": f"LT-{i:04d}"})
    profile.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"check-off, sequential: CPU {cpu / (n - 20) * 1000:.2f} ms, wall {wall / (n - 20) * 1000:.2f} ms")
    if sort:
        pstats.Stats(profile).sort_stats(sort).print_stats(40)
    store.dispose()


if __name__ == "__main__":
    main()
