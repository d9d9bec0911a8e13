"""Benchmark the API over real sockets, each server in its own process:

1. 50 team leads checking off concurrently through `POST …/tasks/{task}/complete` on
   `runbook serve --no-runner` vs a bare FastAPI endpoint doing one insert through the same
   store (same SQLite pragmas), same clients, same run. Goals: throughput >= 0.2x the bare
   endpoint's; check-off p99 < 50 ms.
2. 200 SSE clients on one run (each first receives the run's history: the 1,000 check-offs
   above), then a manager checks off 40 tasks, one every 100 ms: delivery latency (check-off
   answered → event received by each client) p99 and the server's RSS. Goals: < 1 s, < 300 MB.

    python bench/bench_api.py [--leads 50] [--per-lead 20] [--sse 200]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench.goals import report  # noqa: E402

RUNBOOK = """id: bench_api
name: API benchmark
inputs:
  n: {type: integer, default: 1000}
steps:
  - id: item
    kind: manual
    for_each: "${{ range(inputs.n) | list }}"
    owner: team:it
"""
BIN = str(Path(sys.executable).with_name("runbook"))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def stop(*processes: subprocess.Popen) -> None:
    for p in processes:
        p.terminate()
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()


@contextlib.contextmanager
def served(env: dict[str, str], tmp: str) -> Iterator[tuple[subprocess.Popen, subprocess.Popen, str, str]]:
    """`runbook serve --no-runner` on `env` and the bare FastAPI baseline (its own home under
    `tmp`), each on a free port and answering: (serve, bare, url, bare url); both stopped after."""
    port, bare_port = free_port(), free_port()
    serve = subprocess.Popen(
        [BIN, "serve", "--no-runner", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    bare = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve-bare", str(bare_port)],
        env={**env, "RUNBOOK_HOME": str(Path(tmp) / "bare")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url, bare_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"
    try:
        wait_up(url + "/api/health", serve)
        wait_up(bare_url + "/docs", bare)
        yield serve, bare, url, bare_url
    finally:
        stop(serve, bare)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def closed_loop(clients: int, jobs: list[list], act) -> tuple[list[float], float]:
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def work(i: int) -> None:
        session = requests.Session()
        barrier.wait()
        for job in jobs[i]:
            t0 = time.perf_counter()
            act(session, i, job)
            with lock:
                latencies.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return latencies, time.perf_counter() - t0


def bare_server(port: int) -> None:
    """The baseline: FastAPI + uvicorn, one insert per request through the same Store."""
    import uvicorn
    from fastapi import FastAPI
    from sqlalchemy import Column, Integer, MetaData, String, Table, insert

    from flows.store import Store

    store = Store()
    table = Table(
        "bench_bare",
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("payload", String(100)),
    )
    table.metadata.create_all(store.engine)
    app = FastAPI()

    @app.post("/bare")
    def bare(body: dict) -> dict:
        with store.transaction() as tx:
            tx.conn.execute(insert(table).values(payload=str(body.get("task"))))
        return {"ok": True}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=50)
    parser.add_argument("--per-lead", type=int, default=20)
    parser.add_argument("--sse", type=int, default=200)
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        bare_server(args.serve_bare)
        return
    n = args.leads * args.per_lead
    with tempfile.TemporaryDirectory() as tmp:
        library = Path(tmp) / "library"
        library.mkdir()
        (library / "bench_api.yaml").write_text(RUNBOOK)
        env = {
            **os.environ,
            "RUNBOOK_HOME": str(Path(tmp) / "home"),
            "RUNBOOK_LIBRARY": str(library),
            "DO_NOT_TRACK": "1",
        }
        env.pop("RUNBOOK_DATABASE_URL", None)
        env.pop("RUNBOOK_URL", None)

        def cli(*a: str) -> str:
            return subprocess.run([BIN, *a], env=env, capture_output=True, text=True, check=True).stdout.strip()

        manager = cli("users", "add", "bench_manager", "--role", "manager")
        leads = [cli("users", "add", f"lead{i}", "--role", "team_lead", "--team", "xian/it") for i in range(args.leads)]
        with served(env, tmp) as (serve, bare, url, bare_url):
            auth = {"Authorization": f"Bearer {manager}"}
            run = requests.post(
                url + "/api/runs",
                json={"runbook": "bench_api", "site": "xian", "inputs": {"n": n + 100}},
                headers=auth,
                timeout=60,
            ).json()["id"]
            jobs = [[f"item:{i * args.per_lead + j}" for j in range(args.per_lead)] for i in range(args.leads)]

            def bare_act(session, i, task):
                session.post(bare_url + "/bare", json={"task": task}, timeout=60).raise_for_status()

            def api_act(session, i, task):
                r = session.post(
                    f"{url}/api/runs/{run}/tasks/{task}/complete",
                    json={},
                    headers={"Authorization": f"Bearer {leads[i]}"},
                    timeout=60,
                )
                assert r.status_code == 200, r.text

            closed_loop(args.leads, [[f"w{i}"] for i in range(args.leads)], bare_act)  # warm up
            bare_lat, bare_time = closed_loop(args.leads, jobs, bare_act)
            api_lat, api_time = closed_loop(args.leads, jobs, api_act)
            bare_tp, api_tp = n / bare_time, n / api_time
            print(
                f"check-offs: {args.leads} leads x {args.per_lead}: API {api_tp:.0f}/s, p50 "
                f"{percentile(api_lat, 50) * 1000:.1f} ms, p99 {percentile(api_lat, 99) * 1000:.1f} ms; bare insert "
                f"{bare_tp:.0f}/s, p50 {percentile(bare_lat, 50) * 1000:.1f} ms, p99 "
                f"{percentile(bare_lat, 99) * 1000:.1f} ms; throughput ratio {api_tp / bare_tp:.2f}x (goal >= 0.2x), "
                f"p99 < 50 ms: {'yes' if percentile(api_lat, 99) < 0.05 else 'no'}"
            )
            extra = {"leads": args.leads, "checkoffs": n, "over": "http"}
            report(__file__, "api_checkoff_per_s", api_tp, bare_tp, ">= 0.2", **extra)
            p99s = (percentile(api_lat, 99) * 1000, percentile(bare_lat, 99) * 1000)
            report(__file__, "api_checkoff_p99_ms", *p99s, "<= 1.0", **extra)

            # SSE: clients connected, then 40 check-offs; latency = answered → received.
            answered: dict[str, float] = {}
            received: list[float] = []
            lock = threading.Lock()
            ready = threading.Semaphore(0)
            stop = threading.Event()

            def listen() -> None:
                with requests.get(f"{url}/api/runs/{run}/events", headers=auth, stream=True, timeout=(10, 120)) as r:
                    for line in r.iter_lines(decode_unicode=True):
                        if stop.is_set():
                            return
                        if line == ": connected":  # the run's history has been sent
                            ready.release()
                        if line.startswith("data: ") and '"state":"done"' in line:
                            task = line.split('"task":"', 1)[1].split('"', 1)[0]
                            now = time.perf_counter()
                            with lock:
                                if task in answered:
                                    received.append(now - answered[task])

            rss_before = rss_mb(serve.pid)
            listeners = [threading.Thread(target=listen, daemon=True) for _ in range(args.sse)]
            for t in listeners:
                t.start()
            for _ in listeners:
                ready.acquire(timeout=60)
            rss_connected = rss_mb(serve.pid)
            session = requests.Session()
            for k in range(40):
                task = f"item:{n + k}"
                r = session.post(
                    f"{url}/api/runs/{run}/tasks/{task}/complete", json={"reason": "bench"}, headers=auth, timeout=60
                )
                with lock:
                    answered[task] = time.perf_counter()
                assert r.status_code == 200, r.text
                time.sleep(0.1)
            deadline = time.monotonic() + 30
            while len(received) < 40 * args.sse and time.monotonic() < deadline:
                time.sleep(0.1)
            rss_peak = rss_mb(serve.pid)
            stop.set()
            got = len(received)
            print(
                f"SSE: {args.sse} clients, 40 events: {got} of {40 * args.sse} deliveries, p50 "
                f"{percentile(received, 50) * 1000:.0f} ms, p99 {percentile(received, 99) * 1000:.0f} ms "
                f"(goal < 1 s); server RSS {rss_before:.0f} MB idle, {rss_connected:.0f} MB with the clients, "
                f"{rss_peak:.0f} MB after (goal < 300 MB)"
            )
            report(__file__, "sse_delivery_p99_s", percentile(received, 99), 1.0, "< 1.0", clients=args.sse)


if __name__ == "__main__":
    main()
