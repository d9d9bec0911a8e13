"""Benchmark: a check-off that makes its dependent task `waiting`, with 50 concurrent clients in
one process, against a bare single-row insert transaction on the same store, same concurrency,
same run. Goals (issue 25): check-off p99 <= 1.0x the bare insert's p99 and check-offs/s >= 1.0x
the bare inserts/s (a group commit lets a check-off cost less than a transaction of its own);
one JSON line per goal (`checkoff_p99_ms`, `checkoff_per_s`). Also reports the store size per task.

    python bench/bench_checkoff.py [--backend sqlite|postgresql|both] [--clients 50] [--per-client 20]

PostgreSQL: a scratch database is created on RUNBOOK_BENCH_PG's server (default the local one)
and dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, func, select, text  # noqa: E402

from bench.goals import report  # noqa: E402

PG_ADMIN = os.environ.get("RUNBOOK_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

RUNBOOK = """
id: bench_pipeline
name: Check-off benchmark
inputs:
  n: {type: integer, default: 1000}
steps:
  - id: first
    kind: manual
    for_each: "${{ range(inputs.n) | list }}"
    owner: team:it
    fields: {asset: {type: string, required: true}}
  - id: second
    kind: manual
    for_each: "${{ range(inputs.n) | list }}"
    needs: [first]
    owner: team:it
"""

bare = Table(
    "bench_bare",
    MetaData(),
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("payload", String(100)),
)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run_clients(clients: int, jobs: list[list], act) -> tuple[list[float], float]:
    """Latencies of every call, and the wall time from the start barrier to the last answer."""
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)
    errors: list[BaseException] = []

    def client(mine: list) -> None:
        barrier.wait()
        local = []
        for job in mine:
            t0 = time.perf_counter()
            try:
                act(job)
            except BaseException as e:  # a failure must not look like a fast call
                errors.append(e)
                return
            local.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(local)

    threads = [threading.Thread(target=client, args=(jobs[i],)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return latencies, wall


def store_size(store, url: str) -> int:
    if store.dialect == "sqlite":
        raw = store.engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
        path = Path(url.split("///", 1)[1])
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def bench(backend: str, clients: int, per_client: int) -> dict:
    from flows.actors import local_operator
    from flows.lifecycle import Engine
    from flows.store import Store

    n = clients * per_client
    tmp = Path(tempfile.mkdtemp())
    os.environ["RUNBOOK_HOME"] = str(tmp)
    runbook = tmp / "bench_pipeline.yaml"
    runbook.write_text(RUNBOOK)
    admin = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp / 'runbook.db'}"
    else:
        name = f"runbook_bench_{secrets.token_hex(4)}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    store = Store(url)
    try:
        bare.create(store.engine)
        engine = Engine(store)
        operator = local_operator()
        empty = store_size(store, url)
        run = engine.start(runbook, str(ROOT / "runbooks" / "sites" / "xian"), operator, inputs={"n": n})["id"]
        created = store_size(store, url)

        def insert_one(i: int) -> None:  # the same transaction path as a check-off
            with store.transaction() as tx:
                tx.conn.execute(bare.insert().values(payload=f"row {i}"))

        def check_off(i: int) -> None:
            engine.complete(run, f"first:{i}", operator, fields={"asset": f"LT-{i:04d}"})

        jobs = [list(range(c * per_client, (c + 1) * per_client)) for c in range(clients)]
        base, base_wall = run_clients(clients, jobs, insert_one)
        ours, ours_wall = run_clients(clients, jobs, check_off)
        with store.engine.connect() as conn:
            waiting = conn.execute(text("SELECT count(*) FROM tasks WHERE step_id = 'second' AND state = 'waiting'"))
            assert waiting.scalar_one() == n, "every check-off made its dependent waiting"
            with_bare = conn.execute(select(func.count()).select_from(bare)).scalar_one()
            assert with_bare == n
        done = store_size(store, url)
        tasks = 2 * n
        return {
            "backend": backend,
            "n": n,
            "clients": clients,
            "bare_p50": statistics.median(base),
            "bare_p99": percentile(base, 99),
            "ours_p50": statistics.median(ours),
            "ours_p99": percentile(ours, 99),
            "bare_per_s": n / base_wall,
            "ours_per_s": n / ours_wall,
            "bytes_per_task_created": (created - empty) / tasks,
            "bytes_per_task_after_checkoffs": (done - empty) / tasks,
        }
    finally:
        store.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--per-client", type=int, default=20)
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    for backend in backends:
        r = bench(backend, args.clients, args.per_client)
        ratio = r["ours_p99"] / r["bare_p99"]
        print(f"{backend}: {r['n']} check-offs by {r['clients']} concurrent clients")
        print(f"  bare insert txn   p50 {r['bare_p50'] * 1000:7.2f} ms   p99 {r['bare_p99'] * 1000:7.2f} ms")
        print(f"  check-off->ready  p50 {r['ours_p50'] * 1000:7.2f} ms   p99 {r['ours_p99'] * 1000:7.2f} ms")
        print(f"  throughput        bare {r['bare_per_s']:7.1f}/s   check-offs {r['ours_per_s']:7.1f}/s")
        print(f"  p99 ratio {ratio:6.2f}x (goal <= 1.0x)   p99 < 50 ms: {'yes' if r['ours_p99'] < 0.05 else 'NO'}")
        print(
            f"  store size per task: {r['bytes_per_task_created']:.0f} B created, "
            f"{r['bytes_per_task_after_checkoffs']:.0f} B after check-offs (audit, events, check-offs included)"
        )
        extra = {"backend": backend, "clients": r["clients"], "n": r["n"]}
        report(__file__, "checkoff_p99_ms", r["ours_p99"] * 1000, r["bare_p99"] * 1000, "<= 1.0", **extra)
        report(__file__, "checkoff_per_s", r["ours_per_s"], r["bare_per_s"], ">= 1.0", **extra)


if __name__ == "__main__":
    main()
