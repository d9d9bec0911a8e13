"""Benchmarks of the runner against bare Prefect, in the same process and the same Prefect server:

1. `noop`: a runbook of 1,000 automated no-op steps (`wait: {for: 0s}`, independent) run by
   the runner, vs a hand-written Prefect flow submitting 1,000 no-op tasks to the same
   ThreadPoolTaskRunner, `--repeat` (3) interleaved rounds. Goal: median wall and median CPU
   (this process + the Prefect server it started) <= 1.2x (`noop_wall_s`, `noop_cpu_s`).
2. `empty`: an empty run (one no-op step) from start to finish, vs a bare Prefect flow; the bare
   flow is also timed with heartbeats on, to show what turning them off saves.
3. `rss`: peak RSS of `runbook serve` driving 5 concurrent runs of about 15,000 tasks each
   (a 3,000-person synthetic site). Goal: < 500 MB.
4. `mirror`, 5. `mirror_big`: the Prefect mirror's cost (bench/runner_mirror.py).

    python bench/bench_runner.py [noop|empty|rss|mirror|mirror_big|all] [--steps 1000] [--repeat 3]

Every goal also prints one JSON line (bench/goals.py).

Starts its own Prefect server unless PREFECT_API_URL is set.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.bench_scale import tree_cpu  # noqa: E402
from bench.goals import report  # noqa: E402
from bench.prefect_sides import after_side, settle, setup, wait_done  # noqa: E402
from bench.runner_mirror import bench_mirror, bench_mirror_big  # noqa: E402


def bench_noop(tmp: Path, steps: int, repeat: int, server_pid: int | None) -> None:
    """`repeat` interleaved rounds (hand-written flow, then ours); medians of wall and CPU (this
    process, where the store, the runner and Prefect's client work, plus the Prefect server's
    process tree when the script started it)."""
    from prefect import flow, task
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.actors import local_operator
    from flows.compile import MAX_WORKERS
    from flows.lifecycle import Engine
    from flows.runner import Runner
    from flows.store import Store

    @task(persist_result=False)
    def noop(i: int) -> int:
        return i

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=MAX_WORKERS), persist_result=False)
    def bare(n: int) -> None:
        futures = [noop.with_options(task_run_name=f"noop[{i}]").submit(i) for i in range(n)]
        for f in futures:
            f.result()

    def cpu() -> float:
        return time.process_time() + (tree_cpu(server_pid) if server_pid else 0.0)

    runbook = tmp / "noop.yaml"
    runbook.write_text(
        "id: noop\nname: No-op\nsteps:\n"
        + "".join(f"  - {{id: s{i:04d}, kind: wait, for: 0s}}\n" for i in range(steps))
    )
    store = Store()
    engine = Engine(store)
    walls: dict[str, list[float]] = {"bare": [], "ours": []}
    cpus: dict[str, list[float]] = {"bare": [], "ours": []}
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        for _ in range(repeat):
            settle()
            c0, t0 = cpu(), time.perf_counter()
            bare(steps)
            walls["bare"].append(time.perf_counter() - t0)
            after_side(server_pid)  # the server writes the task runs' events after the flow returns
            cpus["bare"].append(cpu() - c0)
            runner = Runner(store).start()
            try:
                c0, t0 = cpu(), time.perf_counter()
                run = engine.start(runbook, "bench", local_operator())["id"]
                walls["ours"].append(wait_done(engine, run) - t0)
            finally:
                runner.stop()
            after_side(server_pid)
            cpus["ours"].append(cpu() - c0)
            assert engine.run(run)["counts"] == {"done": steps}
    store.dispose()
    print(f"noop: {steps} automated no-op steps, {repeat} interleaved rounds")
    for side, label in (("bare", "hand-written Prefect flow"), ("ours", "runbook run (store + runner + Prefect)")):
        w = ", ".join(f"{x:.2f}" for x in walls[side])
        c = ", ".join(f"{x:.2f}" for x in cpus[side])
        print(f"  {label:<40} wall {w} s; CPU {c} s")
    extra = {"steps": steps, "rounds": repeat, "statistic": "median"}
    for metric, values in (("noop_wall_s", walls), ("noop_cpu_s", cpus)):
        ours, base = statistics.median(values["ours"]), statistics.median(values["bare"])
        print(f"  {metric}: median {ours:.2f} s vs {base:.2f} s -> {ours / base:.2f}x (goal <= 1.2x)")
        report(__file__, metric, ours, base, "<= 1.2", **extra)


def bench_empty(tmp: Path, repeat: int = 5) -> None:
    from prefect import flow
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    from flows.actors import local_operator
    from flows.lifecycle import Engine
    from flows.runner import Runner
    from flows.store import Store

    @flow(persist_result=False)
    def empty() -> None:
        return None

    def timed(fn) -> float:
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return sorted(times)[len(times) // 2]

    empty()  # warm up the client
    with_heartbeat = timed(empty)
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        without = timed(empty)
    runbook = tmp / "empty.yaml"
    runbook.write_text("id: empty\nname: Empty\nsteps:\n  - {id: only, kind: wait, for: 0s}\n")
    store = Store()
    engine = Engine(store)
    runner = Runner(store).start()
    try:

        def one_run() -> None:
            t0 = time.perf_counter()
            run = engine.start(runbook, "bench", local_operator())["id"]
            wait_done(engine, run)
            del t0

        one_run()
        ours = timed(one_run)
    finally:
        runner.stop()
    print("empty: start to finish, median of", repeat)
    print(f"  bare Prefect flow, heartbeats on (default)  {with_heartbeat * 1000:8.0f} ms")
    print(f"  bare Prefect flow, heartbeats off           {without * 1000:8.0f} ms")
    print(f"  runbook run of one no-op step               {ours * 1000:8.0f} ms")
    print(
        f"  ratio vs bare flow (heartbeats off) {ours / without:.2f}x; heartbeats cost "
        f"{(with_heartbeat - without) * 1000:.0f} ms per flow run (the runner turns them off)"
    )
    report(__file__, "empty_run_s", ours, without, "<= 3.0", rounds=repeat, statistic="median")


def bench_rss(tmp: Path, people: int = 3000, runs: int = 5) -> None:
    """5 runs × 3,000 people × 5 per-person human steps = 15,000 tasks each (+1 automated step
    that the runner executes before they open), driven by `runbook serve`."""
    sys.path.insert(0, str(ROOT))
    from flows.actors import local_operator
    from flows.lifecycle import Engine
    from flows.store import Store
    from tests.support.processes import Serve, wait_for

    site = tmp / "sites" / "big"
    site.mkdir(parents=True)
    (site / "site.yaml").write_text(
        "id: big\nname: Big site\nkind: bench\nteams:\n  ops: {name: Ops, leads: [P00001]}\n"
    )
    with open(site / "staff.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "name", "team", "phone"])
        for i in range(1, people + 1):
            w.writerow([f"P{i:05d}", f"Person {i}", "ops", f"+10000{i:06d}"])
    each = '    for_each: "${{ site.staff }}"\n    as: person\n    needs: [prepare]\n'
    runbook = tmp / "big.yaml"
    runbook.write_text(
        "id: big\nname: Big\nsteps:\n  - {id: prepare, kind: wait, for: 0s}\n"
        + "".join(
            f"  - id: {step}\n    kind: manual\n    owner: team:ops\n{each}"
            for step in ("confirm", "laptop", "setup", "train", "live")
        )
    )
    store = Store()
    engine = Engine(store)
    serve = Serve(
        {"RUNBOOK_HOME": os.environ["RUNBOOK_HOME"], "RUNBOOK_SITES": str(tmp / "sites")}, tmp / "serve.log"
    ).start(timeout=300)
    try:
        ids = [engine.start(runbook, "big", local_operator())["id"] for _ in range(runs)]
        wait_for(
            lambda: all(engine.run(i)["counts"].get("waiting", 0) == 5 * people for i in ids),
            3600,
            interval=2,
            what="the automated step of every run to finish",
        )
        time.sleep(15)  # let the runner drive them a while: timers, progress artifacts
        status = Path(f"/proc/{serve.process.pid}/status").read_text()
        peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
        tasks = sum(sum(engine.run(i)["counts"].values()) for i in ids)
    finally:
        serve.stop()
    print(
        f"rss: runbook serve driving {runs} runs, {tasks:,} tasks in all ({tasks // runs:,} each), "
        f"{people:,}-person site"
    )
    print(f"  peak RSS of runbook serve  {peak / 1024:8.0f} MB (goal < 500 MB)")
    report(__file__, "serve_peak_rss_mb", peak / 1024, 500.0, "< 1.0", tasks=runs * (5 * people + 1), bound_mb=500)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "which", nargs="?", default="all", choices=["noop", "empty", "rss", "mirror", "mirror_big", "all"]
    )
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds of the noop comparison")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    setup(tmp)
    from flows.prefect_api import ensure_prefect_api

    server = ensure_prefect_api(tmp / "home")
    try:
        if args.which in ("noop", "all"):
            bench_noop(tmp, args.steps, args.repeat, server.process.pid if server and server.process else None)
        if args.which in ("empty", "all"):
            bench_empty(tmp)
        if args.which in ("rss", "all"):
            bench_rss(tmp)
        if args.which in ("mirror", "all"):
            bench_mirror(
                tmp, args.steps, server.process.pid if server is not None and server.process else None, args.repeat
            )
        if args.which in ("mirror_big", "all"):
            bench_mirror_big(tmp, 10_000, server.process.pid if server is not None and server.process else None)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
