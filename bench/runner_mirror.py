"""The Prefect mirror's cost (issue 21), run by bench/bench_runner.py (`mirror`, `mirror_big`):

- `mirror`: Prefect server CPU for one run of N automated no-op items each followed by a human
  check-off of the same item (2N task runs, N edges), mirrored by flows/prefect_mirror.py, vs a
  hand-written flow submitting the same 2N task runs with the same names and edges
  (`wait_for`), `--repeat` interleaved rounds. Goal: ratio of the medians <= 1.1.
- `mirror_big`: the mirror's cost for a 10,000-task run (above the default cap of 5,000: per-step
  progress artifacts only): our CPU and the server's per check-off round.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from bench.bench_scale import idle_rate, tree_cpu
from bench.prefect_sides import Traffic, after_side, wait_done


def bench_mirror(tmp: Path, items: int, server_pid: int | None, repeat: int = 3) -> None:
    """`repeat` interleaved rounds (hand-written flow, then a mirrored run); the ratio of the
    medians of the server's CPU, idle removed, and what each side sent (Traffic)."""
    import json

    from prefect import flow, task
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.task_runners import ThreadPoolTaskRunner

    from flows.actors import local_operator
    from flows.compile import MAX_WORKERS
    from flows.lifecycle import Engine
    from flows.runner import Runner
    from flows.store import Store

    if server_pid is None:
        print("mirror: needs its own Prefect server (unset PREFECT_API_URL) to measure the server's CPU")
        return

    @task(persist_result=False)
    def step(i: int) -> int:
        return i

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=MAX_WORKERS), persist_result=False)
    def handwritten(n: int) -> None:
        auto = [step.with_options(task_run_name=f"s[{i}]").submit(i) for i in range(n)]
        human = [step.with_options(task_run_name=f"h[{i}]").submit(i, wait_for=[auto[i]]) for i in range(n)]
        for f in auto + human:
            f.result()

    runbook = tmp / "mirrored.yaml"
    runbook.write_text(
        "id: mirrored\nname: Mirrored\nsteps:\n"
        f'  - {{id: s, kind: wait, for: 0s, for_each: "${{{{ range({items}) | list }}}}"}}\n'
        f'  - {{id: h, kind: manual, owner: team:it, needs: [s], for_each: "${{{{ range({items}) | list }}}}"}}\n'
    )
    traffic = Traffic()
    store = Store()
    engine = Engine(store)
    runner = Runner(store).start()
    operator = local_operator()
    rounds: list[dict[str, float]] = []
    traffic_of: dict[str, dict[str, int]] = {}
    try:
        for _ in range(repeat):
            with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
                after_side(server_pid)
                traffic.take()
                c0, t0 = tree_cpu(server_pid), time.perf_counter()
                handwritten(items)
                after_side(server_pid)
                base_cpu, base_s = tree_cpu(server_pid) - c0, time.perf_counter() - t0
                traffic_of["baseline"] = traffic.take()
            after_side(server_pid)
            traffic.take()
            c0, t0 = tree_cpu(server_pid), time.perf_counter()
            run = engine.start(runbook, "bench", operator)["id"]
            while len(engine.tasks(run, step="h", state="waiting")) < items:
                time.sleep(0.1)
            for i in range(items):
                engine.complete(run, f"h:{i}", operator)
            wait_done(engine, run)
            while run in runner.drivers:  # the attempt's last mirror round, then its final state
                time.sleep(0.1)
            after_side(server_pid)
            ours_cpu, ours_s = tree_cpu(server_pid) - c0, time.perf_counter() - t0
            traffic_of["ours"] = traffic.take()
            rounds.append({"ours": ours_cpu, "ours_s": ours_s, "base": base_cpu, "base_s": base_s})
    finally:
        runner.stop()
        store.dispose()
    idle = idle_rate(server_pid, window=5.0, most=40.0)  # the server's own CPU a second, doing nothing
    ours = [r["ours"] - idle * r["ours_s"] for r in rounds]
    base = [r["base"] - idle * r["base_s"] for r in rounds]
    ours_net, base_net = statistics.median(ours), statistics.median(base)
    ratio = ours_net / base_net if base_net > 0 else float("inf")
    print(
        json.dumps(
            {
                "bench": "runner.mirror",
                "metric": f"Prefect server CPU-s for one run of {2 * items} task runs ({items} human), idle CPU removed",
                "ours": round(ours_net, 2),
                "baseline": round(base_net, 2),
                "ratio": round(ratio, 2),
                "goal": 1.1,
                "met": ratio <= 1.1,
                "statistic": f"median of {repeat} interleaved rounds",
                "rounds_ours": [round(x, 2) for x in ours],
                "rounds_baseline": [round(x, 2) for x in base],
                "round_ratios": [round(o / b, 2) if b > 0 else None for o, b in zip(ours, base, strict=True)],
                "idle_cpu_per_s": round(idle, 3),
                "wall_s_ours": [round(r["ours_s"], 1) for r in rounds],
                "wall_s_baseline": [round(r["base_s"], 1) for r in rounds],
                "ours_traffic": traffic_of.get("ours"),
                "baseline_traffic": traffic_of.get("baseline"),
            }
        )
    )


def bench_mirror_big(tmp: Path, tasks: int, server_pid: int | None, rounds: int = 10) -> None:
    """The mirror's cost for a run above the size cap (default 5,000): a run of `tasks` human
    items, one check-off between rounds, each round reading the run and updating its per-step
    progress artifact. Our process's CPU per round and the server's, both measured."""
    import json
    import resource

    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    from flows.actors import local_operator
    from flows.lifecycle import Engine
    from flows.prefect_mirror import Mirror, mirror_cap
    from flows.store import Store

    @flow(persist_result=False)
    def attempt() -> str:
        return str(flow_run.id)

    runbook = tmp / "big_mirror.yaml"
    runbook.write_text(
        "id: big_mirror\nname: Big\nsteps:\n"
        f'  - {{id: item, kind: manual, owner: team:it, for_each: "${{{{ range({tasks}) | list }}}}"}}\n'
    )
    store = Store()
    engine = Engine(store)
    operator = local_operator()
    run = engine.start(runbook, "bench", operator)["id"]
    mirror = Mirror(store, run, attempt())
    own = server = 0.0
    with get_client(sync_client=True) as client:
        mirror.round(client, force=True)
        for i in range(rounds):
            engine.complete(run, f"item:{i}", operator)
            c0 = tree_cpu(server_pid) if server_pid else 0.0
            r0 = resource.getrusage(resource.RUSAGE_THREAD)
            mirror.round(client)
            r1 = resource.getrusage(resource.RUSAGE_THREAD)
            own += (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
            server += (tree_cpu(server_pid) - c0) if server_pid else 0.0
    store.dispose()
    print(
        json.dumps(
            {
                "bench": "runner.mirror_big",
                "metric": f"mirror CPU ms per check-off round of a {tasks:,}-task run (cap {mirror_cap():,}: per-step artifacts)",
                "ours": round(1000 * own / rounds, 1),
                "server_ms": round(1000 * server / rounds, 1),
                "task_runs": mirror.sent["task_runs"],
                "baseline": None,
                "ratio": None,
                "goal": None,
                "met": None,
            }
        )
    )
