"""Statements, CPU and wall of the runner's store side, without Prefect: a run of `--steps` due
no-op steps (`wait: {for: 0s}`, independent) claimed (`work.claim`, ready → running), then its
results recorded (`work.record`, running → done, outputs per task) in one batch, on SQLite and
on PostgreSQL. Statements counted with a `before_cursor_execute` listener (an executemany counts
once): all of them, and the `UPDATE tasks` among them; CPU is this process's.

    python bench/claim_statements.py [--steps 1000] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.prefect_sides import setup  # noqa: E402


def measure(url: str | None, runbook: Path, steps: int) -> dict[str, tuple[int, int, float, float]]:
    from sqlalchemy import event

    from flows import work
    from flows.actors import local_operator
    from flows.lifecycle import Engine
    from flows.store import Store, utcnow

    store = Store(url) if url else Store()
    engine = Engine(store)
    run = engine.start(runbook, "bench", local_operator())["id"]
    with store.transaction() as tx:
        tx.acquire_lease(run, "bench", utcnow() + timedelta(seconds=600), utcnow())
    seen: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda c, cur, stmt, *a: seen.append(stmt))

    def counted(call):
        seen.clear()
        c0, t0 = time.process_time(), time.perf_counter()
        result = call()
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        updates = sum(1 for s in seen if s.lstrip().upper().startswith("UPDATE TASKS"))
        return result, (len(seen), updates, cpu, wall)

    claimed, claim = counted(lambda: work.claim(store, run, "bench"))
    assert len(claimed.jobs) == steps, len(claimed.jobs)
    _, record = counted(lambda: work.record(store, run, "bench", [(j, {"i": j.task_id}, None) for j in claimed.jobs]))
    assert engine.run(run)["counts"] == {"done": steps}
    store.dispose()
    return {"claim": claim, "record": record}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    from sqlalchemy import create_engine, text

    with tempfile.TemporaryDirectory() as tmp:
        setup(Path(tmp))
        runbook = Path(tmp) / "noop.yaml"
        runbook.write_text(
            "id: noop\nname: No-op\nsteps:\n"
            + "".join(f"  - {{id: s{i:04d}, kind: wait, for: 0s}}\n" for i in range(args.steps))
        )
        name = f"runbook_bench_{secrets.token_hex(4)}"
        admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            for label, url in (("sqlite", None), ("postgresql", args.pg.rsplit("/", 1)[0] + f"/{name}")):
                for what, (n, updates, cpu, wall) in measure(url, runbook, args.steps).items():
                    print(
                        f"{label:<10} {what:<6} {args.steps} tasks: {n:5d} statements, {updates:5d} UPDATE tasks, CPU {cpu:.3f} s, wall {wall:.3f} s"
                    )
        finally:
            with admin.connect() as conn:
                conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            admin.dispose()


if __name__ == "__main__":
    main()
