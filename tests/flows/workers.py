"""Worker functions for multi-process tests (importable by spawned processes)."""

from __future__ import annotations

import random


def checkoff_all(url: str, run_id: str, task_ids: list[str], seed: int) -> dict[str, str]:
    """Try to check off every task in a random order; say what happened to each."""
    from flows.actors import local_operator
    from flows.errors import Conflict
    from flows.lifecycle import Engine
    from flows.store import Store

    store = Store(url)
    engine = Engine(store)
    actor = local_operator()
    order = list(task_ids)
    random.Random(seed).shuffle(order)
    results = {}
    for task_id in order:
        try:
            engine.complete(run_id, task_id, actor, note=f"worker {seed}")
            results[task_id] = "ok"
        except Conflict:
            results[task_id] = "conflict"
    store.dispose()
    return results
