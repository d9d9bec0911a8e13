"""The 10,000-task run the dashboard, report and export benchmarks measure (bench_board.py,
bench_report.py, bench_exports.py): a roll call of N people on the synthetic site `big`
(bigsite.py), each answering "home" into a pipeline (four steps here, or the benchmark's own
runbook), half of them through its first step; on SQLite under a temporary `RUNBOOK_HOME`."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from bench import bigsite

RUNBOOK = """id: bench_board
name: Dashboard benchmark
objectives:
  - {id: live, name: Agents live, count: go_live, target: "${{ site.staff | length }}", within: 72h}
  - {id: accounted, name: Staff accounted for, ratio: roll, target: 0.9, within: 4h}
steps:
  - id: roll
    kind: muster
    owner: team:ops
    audience: "${{ site.staff }}"
    question: Where can you work tomorrow?
    options: {onsite: On site, home: From home}
  - {id: laptop, kind: manual, for_each: "${{ steps.roll.answers.home }}", as: agent, owner: team:ops,
     name: "Laptop for ${{ agent.name }}", due: 1h}
  - {id: setup, kind: manual, for_each: "${{ steps.roll.answers.home }}", as: agent, needs: [laptop],
     owner: team:ops, name: "Setup for ${{ agent.name }}", due: 2h}
  - {id: training, kind: manual, for_each: "${{ steps.roll.answers.home }}", as: agent, needs: [setup],
     owner: team:ops, name: "Training for ${{ agent.name }}"}
  - {id: go_live, kind: approval, for_each: "${{ steps.roll.answers.home }}", as: agent, needs: [training],
     owner: role:manager, name: "Go live: ${{ agent.name }}"}
"""


@dataclass
class BigRun:
    store: Any  # flows.store.Store (imported once the environment points at the temporary home)
    engine: Any  # flows.lifecycle.Engine
    me: Any  # the local operator, who started the run and acts in it
    run: str
    tasks: int


def timed(call: Callable[[], object], n: int) -> list[float]:
    """`n` calls of `call`, each in milliseconds."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        out.append((time.perf_counter() - t) * 1000)
    return out


@contextmanager
def big_run(
    people: int,
    out: TextIO = sys.stdout,
    *,
    runbook_id: str = "bench_board",
    runbook: str = RUNBOOK,
    timezone: str = "Asia/Shanghai",
    time_scale: str | None = "3600",
) -> Iterator[BigRun]:
    """The run of `runbook` set up (its set-up time said on `out`); the store disposed of at the
    end. `time_scale`: `RUNBOOK_TIME_SCALE` (None: as the environment has it)."""
    with tempfile.TemporaryDirectory() as tmp:
        library, sites = bigsite.write(tmp, people, runbook_id, runbook, timezone=timezone)
        os.environ.update(
            {"RUNBOOK_HOME": str(Path(tmp) / "home"), "RUNBOOK_LIBRARY": str(library), "RUNBOOK_SITES": str(sites)}
        )
        if time_scale is not None:
            os.environ["RUNBOOK_TIME_SCALE"] = time_scale
        os.environ.pop("RUNBOOK_DATABASE_URL", None)
        from flows.actors import local_operator
        from flows.lifecycle import Engine
        from flows.store import Store

        store = Store()
        engine = Engine(store)
        me = local_operator()
        t0 = time.perf_counter()
        run = engine.start(runbook_id, "big", me)["id"]
        for i in range(people):
            engine.answer(run, "roll", f"P{i:05d}", "home", me, via="lead")
        for i in range(0, people, 2):
            engine.complete(run, f"laptop:P{i:05d}", me)
        with store.read() as r:
            tasks = r.count_tasks(run)
        print(f"set up: {tasks} tasks in {time.perf_counter() - t0:.0f} s", file=out)
        try:
            yield BigRun(store, engine, me, run, tasks)
        finally:
            store.dispose()
