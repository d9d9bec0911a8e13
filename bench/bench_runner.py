"""Benchmarks of the runner against bare Prefect, in the same process and the same Prefect server:

1. `noop`: a runbook of 1,000 automated no-op steps (`wait: {for: 0s}`, independent) run by
   the runner, vs a hand-written Prefect flow submitting 1,000 no-op tasks to the same
   ThreadPoolTaskRunner, `--repeat` (3) interleaved rounds. Goal: median wall and median CPU
   (this process + the Prefect server it started) <= 1.2x (`noop_wall_s`, `noop_cpu_s`).
2. `empty`: an empty run (one no-op step) from start to finish, vs a bare Prefect flow; the bare
   flow is also timed with heartbeats on, to show what turning them off saves.
3. `rss`: peak RSS of `runbook serve` driving 5 concurrent runs of about 15,000 tasks each
   (a 3,000-person synthetic site). Goal: < 500 MB.
4. `mirror`: Prefect server CPU for one run of N automated no-op items each followed by a human
   check-off of the same item (2N task runs, N edges), mirrored by flows/prefect_mirror.py, vs a
   hand-written flow submitting the same 2N task runs with the same names and edges
   (`wait_for`). Goal: ratio <= 1.1. Prints one JSON line ({bench, metric, ours, baseline, ratio, goal, met, …}).

5. `mirror_big`: the mirror's cost for a 10,000-task run (above the default cap of 5,000: per-step
   progress artifacts only): our CPU and the server's per check-off round.

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

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def _setup(tmp: Path) -> None:
    os.environ["RUNBOOK_HOME"] = str(tmp / "home")
    site = tmp / "sites" / "bench"
    site.mkdir(parents=True)
    (site / "site.yaml").write_text("id: bench\nname: Bench\nkind: bench\nteams:\n  it: {name: IT}\n")
    (site / "staff.csv").write_text("id,name,team\nB1,One,it\n")
    os.environ["RUNBOOK_SITES"] = str(tmp / "sites")


def _settle(timeout: float = 180, quick: float | None = None) -> None:
    """Wait until the Prefect server has worked off its backlog: a flow run is created and ends
    in under a second. Otherwise the next flow run's creation meets the server's 503s (SQLite
    busy writing the previous 1,000 task runs' events) and Prefect's client backs off 2 + 4 + 8
    + 16 s: 30 s that measure neither side."""
    from prefect import flow

    @flow(persist_result=False)
    def ping() -> None:
        return None

    from prefect.exceptions import PrefectHTTPStatusError

    t_end = time.perf_counter() + timeout
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        try:
            ping()
        except PrefectHTTPStatusError as e:  # still 503 after the client's own retries: not settled yet
            if e.response.status_code != 503:
                raise
            continue
        if time.perf_counter() - t0 < (quick or float(os.environ.get("BENCH_SETTLED_BELOW", "1.0"))):
            return
    raise TimeoutError("the Prefect server did not settle")


def _quiet(server_pid: int, window: float = 2.0, windows: int = 3, below: float = 0.1, most: float = 300) -> None:
    """Wait until the server has done its work: `windows` windows in a row in which it used less
    than `below` CPU-s a second. A flow run that has returned, or a ping that answers quickly, says
    nothing of the events still queued: the task-run recorder writes them one by one after, and
    the event persister every 5 s (hence 3 × 2 s). Otherwise the hand-written side's backlog is
    charged to the side measured next."""
    from bench.bench_scale import tree_cpu

    calm, t_end = 0, time.monotonic() + most
    while calm < windows and time.monotonic() < t_end:
        c0, t0 = tree_cpu(server_pid), time.monotonic()
        time.sleep(window)
        calm = calm + 1 if (tree_cpu(server_pid) - c0) / (time.monotonic() - t0) < below else 0


def _after_side(server_pid: int | None) -> None:
    """Before and after each side's measurement: the server answers and (when this script started
    it) has written what it was sent, so that one side's backlog is not charged to the next."""
    _settle()
    if server_pid:
        _quiet(server_pid)


def _wait_done(engine, run_id: str, timeout: float = 3600) -> float:
    t0 = time.perf_counter()
    while engine.run(run_id)["state"] == "running":
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(run_id)
        time.sleep(0.1)
    return time.perf_counter()


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
            _settle()
            c0, t0 = cpu(), time.perf_counter()
            bare(steps)
            walls["bare"].append(time.perf_counter() - t0)
            _after_side(server_pid)  # the server writes the task runs' events after the flow returns
            cpus["bare"].append(cpu() - c0)
            runner = Runner(store).start()
            try:
                c0, t0 = cpu(), time.perf_counter()
                run = engine.start(runbook, "bench", local_operator())["id"]
                walls["ours"].append(_wait_done(engine, run) - t0)
            finally:
                runner.stop()
            _after_side(server_pid)
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
            _wait_done(engine, run)
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


class Traffic:
    """What this process sends the Prefect server, by kind: REST calls by method and route (ids
    folded), events by name. `take()` returns the counts since the last take: where the server's
    CPU goes, side by side."""

    def __init__(self) -> None:
        import re
        from collections import Counter

        import httpx
        from prefect.events.worker import EventsWorker

        self.counts: Counter[str] = Counter()
        ids = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
        counts = self.counts

        def route(request: httpx.Request) -> str:
            return f"{request.method} {ids.sub('{id}', request.url.path.split('/api', 1)[-1])}"

        sync_send, async_send, event_send = httpx.Client.send, httpx.AsyncClient.send, EventsWorker.send

        def send(client, request, *a, **kw):
            counts[route(request)] += 1
            return sync_send(client, request, *a, **kw)

        async def asend(client, request, *a, **kw):
            counts[route(request)] += 1
            return await async_send(client, request, *a, **kw)

        def esend(worker, event):
            name = event.event
            counts["event " + (".".join(name.split(".")[:2]) + ".*" if name.startswith("runbook.") else name)] += 1
            return event_send(worker, event)

        httpx.Client.send, httpx.AsyncClient.send, EventsWorker.send = send, asend, esend  # type: ignore[method-assign]

    def take(self) -> dict[str, int]:
        out = dict(self.counts.most_common())
        self.counts.clear()
        return out


def _server_cpu(pid: int) -> float:
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_scale import tree_cpu

    return tree_cpu(pid)


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
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_scale import idle_rate

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
                _after_side(server_pid)
                traffic.take()
                c0, t0 = _server_cpu(server_pid), time.perf_counter()
                handwritten(items)
                _after_side(server_pid)
                base_cpu, base_s = _server_cpu(server_pid) - c0, time.perf_counter() - t0
                traffic_of["baseline"] = traffic.take()
            _after_side(server_pid)
            traffic.take()
            c0, t0 = _server_cpu(server_pid), time.perf_counter()
            run = engine.start(runbook, "bench", operator)["id"]
            while len(engine.tasks(run, step="h", state="waiting")) < items:
                time.sleep(0.1)
            for i in range(items):
                engine.complete(run, f"h:{i}", operator)
            _wait_done(engine, run)
            while run in runner.drivers:  # the attempt's last mirror round, then its final state
                time.sleep(0.1)
            _after_side(server_pid)
            ours_cpu, ours_s = _server_cpu(server_pid) - c0, time.perf_counter() - t0
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
            c0 = _server_cpu(server_pid) if server_pid else 0.0
            r0 = resource.getrusage(resource.RUSAGE_THREAD)
            mirror.round(client)
            r1 = resource.getrusage(resource.RUSAGE_THREAD)
            own += (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime)
            server += (_server_cpu(server_pid) - c0) if server_pid else 0.0
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "which", nargs="?", default="all", choices=["noop", "empty", "rss", "mirror", "mirror_big", "all"]
    )
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds of the noop comparison")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    _setup(tmp)
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
