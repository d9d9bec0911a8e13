"""Concurrent check-offs: 50 threads (and 4 processes on PostgreSQL) race over the same 500
tasks in random overlapping orders; each task is completed exactly once, every loser gets a
conflict, and the audit has one completion row per task."""

from __future__ import annotations

import multiprocessing
import random
import threading
from collections import Counter

from flows.errors import Conflict
from tests.flows.conftest import HERE


def _start_500(engine, operator) -> tuple[str, list[str]]:
    run = engine.start(HERE / "library" / "many_items.yaml", "lab", operator)["id"]
    ids = [t["id"] for t in engine.tasks(run)]
    assert len(ids) == 500 and {t["state"] for t in engine.tasks(run)} == {"waiting"}
    return run, ids


def _check_outcome(engine, run: str, ids: list[str], wins: Counter, conflicts: int, attempts: int) -> None:
    assert set(wins) == set(ids) and set(wins.values()) == {1}, "each task completed exactly once"
    assert sum(wins.values()) + conflicts == attempts, "every loser got a conflict"
    data = engine.run(run)
    assert data["state"] == "completed" and data["counts"] == {"done": 500}
    audit = engine.audit(run)
    assert audit["verified"]
    assert sum(1 for e in audit["entries"] if e["action"] == "task.complete") == 500


def test_fifty_threads_complete_each_task_exactly_once(engine, operator):
    run, ids = _start_500(engine, operator)
    wins: Counter = Counter()
    conflicts = []
    errors = []
    barrier = threading.Barrier(50)
    lock = threading.Lock()

    def worker(seed: int) -> None:
        order = list(ids)
        random.Random(seed).shuffle(order)
        barrier.wait()
        for task_id in order:
            try:
                engine.complete(run, task_id, operator)
                with lock:
                    wins[task_id] += 1
            except Conflict as e:
                with lock:
                    conflicts.append(e.message)
            except Exception as e:  # anything else is a bug: keep it for the assertion
                with lock:
                    errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert all("is done (by" in m or "is completed; nothing can change" in m for m in conflicts)
    _check_outcome(engine, run, ids, wins, len(conflicts), 50 * 500)


def test_four_processes_on_postgresql_complete_each_task_exactly_once(pg_url, lab_env):
    from sqlalchemy import text

    from flows.actors import local_operator
    from flows.lifecycle import Engine
    from flows.store import Store, metadata
    from tests.flows.workers import checkoff_all

    store = Store(pg_url)
    with store.engine.begin() as conn:
        conn.execute(text("TRUNCATE " + ", ".join(t.name for t in metadata.sorted_tables) + " CASCADE"))
    engine = Engine(store)
    run, ids = _start_500(engine, local_operator())
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        results = pool.starmap(checkoff_all, [(pg_url, run, ids, seed) for seed in range(4)], chunksize=1)
    wins = Counter(t for r in results for t, outcome in r.items() if outcome == "ok")
    conflicts = sum(1 for r in results for outcome in r.values() if outcome == "conflict")
    _check_outcome(engine, run, ids, wins, conflicts, 4 * 500)
    store.dispose()
