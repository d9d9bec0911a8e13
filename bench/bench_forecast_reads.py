"""Benchmark: run reads during a burst of changes. A drill of callcenter_lockdown at xian in a
fresh SQLite store, served over a socket by the real app (create_app, as `runbook serve` does,
without a runner), played to its roll call (99 of 110 answered, 48 from home); then a burst: the
IT lead hands over the 40 laptops in stock one after the other (each a check-off through the
Engine, in the serving process), while --readers clients read the run JSON
(`GET /api/runs/{run}`, objectives with their forecast) over HTTP as fast as they can.

Measured during the burst: run reads per second, the check-offs' latency (P50/P90) and the
burst's length; after it, how long until the forecast reflects the last hand-over (when the
code has `as_of`). `--code DIR` runs against another checkout of the code (the same script, in
the same session): `--baseline DIR` runs it on DIR first (e.g. `git archive main` unpacked),
then on this tree, and prints both with the ratios. One JSON line per code tree.

    python bench/bench_forecast_reads.py [--readers 4] [--baseline /tmp/fc-main]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def measure(code: Path, readers: int) -> dict:
    sys.path.insert(0, str(code))
    os.environ["RUNBOOK_HOME"] = tempfile.mkdtemp(prefix="bench-forecast-reads-")
    for key in ("RUNBOOK_DATABASE_URL", "RUNBOOK_LIBRARY", "RUNBOOK_SITES", "RUNBOOK_TIME_SCALE"):
        os.environ.pop(key, None)
    import requests
    import uvicorn

    import flows
    from console import auth
    from console.api import create_app
    from flows.actors import local_operator
    from flows.lifecycle import Engine
    from flows.store import Store

    assert Path(flows.__file__).resolve().is_relative_to(code.resolve()), flows.__file__
    store = Store()
    engine = Engine(store)
    me = local_operator()
    run = engine.lockdown("xian", me, drill=True)[0][0]["id"]
    for i in range(1, 111):
        if 90 <= i <= 100:
            continue  # 11 silent
        engine.answer(run, "roll_call", f"X{i:04d}", "home" if 3 <= i <= 50 else "onsite", me)
    laptops = [t for t in engine.tasks(run, step="laptop") if t["state"] == "waiting"]
    token = auth.add_account(store, "bench", "viewer", by="bench")
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}/api/runs/{run}"
    headers = {"Authorization": f"Bearer {token}"}
    assert requests.get(url, headers=headers, timeout=60).status_code == 200
    time.sleep(2)  # the first forecast (either way) before the burst

    stop = threading.Event()
    reads: list[float] = []  # when each read completed

    def reader() -> None:
        session = requests.Session()
        while not stop.is_set():
            r = session.get(url, headers=headers, timeout=120)
            assert r.status_code == 200, r.text
            reads.append(time.monotonic())

    clients = [threading.Thread(target=reader, daemon=True) for _ in range(readers)]
    for c in clients:
        c.start()
    time.sleep(1)  # the readers are reading
    latencies = []
    began = time.monotonic()
    for task in laptops:
        t = time.perf_counter()
        engine.complete(run, task["id"], me, fields={"asset": task["outputs"]["asset_tag"]})
        latencies.append((time.perf_counter() - t) * 1000)
    ended = time.monotonic()
    stop.set()
    for c in clients:
        c.join(120)
    during = sum(began <= t <= ended for t in reads)
    with store.read() as r:
        seq = r.last_event_seq(run)
    lag = None
    t = time.monotonic()
    while time.monotonic() - t < 60:
        o = requests.get(url, headers=headers, timeout=60).json()["objectives"][0]
        f = o.get("forecast") or {}
        if "as_of" not in f:  # the code read computes it: current by construction
            lag = 0.0
            break
        if f["as_of"] is not None and f["as_of"] >= seq:
            lag = time.monotonic() - ended
            break
        time.sleep(0.05)
    server.should_exit = True
    thread.join(30)
    store.dispose()
    return {
        "bench": "forecast_reads",
        "code": str(code),
        "readers": readers,
        "check_offs": len(latencies),
        "burst_s": round(ended - began, 2),
        "reads_per_s": round(during / (ended - began), 1),
        "check_off_p50_ms": round(statistics.median(latencies), 1),
        "check_off_p90_ms": round(statistics.quantiles(latencies, n=10)[-1], 1),
        "forecast_current_after_s": None if lag is None else round(lag, 2),
        "load_before": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--code", type=Path, default=HERE.parent.parent, help="the checkout whose code is measured")
    parser.add_argument("--baseline", type=Path, help="measure this checkout first, then --code, and compare")
    args = parser.parse_args()
    if args.baseline is None:
        print(json.dumps(measure(args.code, args.readers)))
        return
    rows = []
    for code in (args.baseline, args.code):
        out = subprocess.run(
            [sys.executable, str(HERE), "--readers", str(args.readers), "--code", str(code)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]))
    before, after = rows
    print(
        json.dumps(
            {
                "bench": "forecast_reads",
                "metric": f"run reads per second during a burst of 40 hand-overs, {args.readers} readers",
                "ratio_reads": round(after["reads_per_s"] / before["reads_per_s"], 2)
                if before["reads_per_s"]
                else None,
                "ratio_check_off_p90": round(after["check_off_p90_ms"] / before["check_off_p90_ms"], 2),
                "goal": "reads >= 5x, check-off P90 <= 0.5x",
                "met": after["reads_per_s"] >= 5 * before["reads_per_s"]
                and after["check_off_p90_ms"] <= 0.5 * before["check_off_p90_ms"]
                if args.readers
                else None,  # nobody reads: main simulates nothing, the forecaster still does (its cost)
            }
        )
    )


if __name__ == "__main__":
    main()
