"""Chaos: a long runbook (manual + http + notify) driven by `runbook serve` while the serve
process is SIGKILLed at random moments and restarted; a checker checks off manual steps as
they come. Returns what a test or the benchmark asserts on: the run's end state, duplicate and
late side effects, lost check-offs, and the audit."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from flows.actors import local_operator
from flows.errors import Conflict
from flows.lifecycle import Engine
from flows.store import Store

from .processes import Serve, wait_for


def _attempt(store: Store, run_id: str) -> tuple[int, str | None]:
    """How many times a runner took the run's lease, and the flow run of the latest attempt
    (noted by the runner once its flow run has started)."""
    with store.read() as r:
        head = r.run_head(run_id)
    return int(head["attempts"]), head["prefect_flow_run"]


def _pending_notifications(store: Store, run: str) -> int:
    with store.read() as r:
        return len(r.outbox(states=["pending"], run_id=run))


def _settled_flow_runs(run_id: str) -> list[str] | None:
    """The state types of the run's flow runs, or None while one is not final."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    with get_client(sync_client=True) as client:
        found = client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"run:{run_id}"])))
    kinds = [f.state.type.value for f in found if f.state]
    return None if not kinds or any(k in ("RUNNING", "PENDING", "SCHEDULED") for k in kinds) else kinds


def write_runbook(path: Path, groups: int) -> None:
    """`groups` × (http → notify → manual), chained: at least 3 × groups steps."""
    lines = ["id: chaos", "name: Chaos", "steps:"]
    previous = None
    for i in range(groups):
        needs = f"    needs: [{previous}]\n" if previous else ""
        lines.append(
            f"  - id: h{i}\n    kind: http\n{needs}    retries: 5\n"
            f'    with: {{method: POST, url: "${{{{ env.IAM_URL }}}}/chaos/{i}", json: {{n: {i}}}}}'
        )
        lines.append(
            f"  - id: n{i}\n    kind: notify\n    needs: [h{i}]\n    to: [channel:console]\n"
            f'    message: "step {i} done"'
        )
        lines.append(f"  - id: m{i}\n    kind: manual\n    needs: [n{i}]\n    owner: team:it")
        previous = f"m{i}"
    path.write_text("\n".join(lines) + "\n")


def run_chaos(
    *, kills: int, groups: int, env: dict[str, str], home: Path, recorder: Any, seed: int = 7, timeout: float = 600
) -> dict[str, Any]:
    """Each kill waits until the restarted serve's runner owns the run; the checker paces the
    manual steps (about 5 s × kills over the run) so that the run outlives the kills."""
    rng = random.Random(seed)
    pace = 5.0 * kills / groups
    runbook = home / "chaos.yaml"
    write_runbook(runbook, groups)
    store = Store()
    engine = Engine(store)
    run = engine.start(runbook, "lab", local_operator())["id"]
    acknowledged: list[str] = []
    stop = threading.Event()

    def checker() -> None:
        operator = local_operator()
        while not stop.is_set():
            for task in engine.tasks(run, state="waiting")[:1]:
                try:
                    engine.complete(run, task["id"], operator, note="chaos")
                    acknowledged.append(task["id"])
                except Conflict:
                    pass
                stop.wait(rng.uniform(0.5, 1.5) * pace)
            stop.wait(0.05)

    thread = threading.Thread(target=checker, daemon=True)
    thread.start()
    serve = Serve(env, home / "serve.log").start()
    started = time.monotonic()
    try:
        killed = 0
        seen: tuple[int, str | None] = (0, None)
        for _ in range(kills):
            # Kill only a runner that is at work: wait until the new serve took the lease (its
            # predecessor's expires first) and its flow run started, then let it work a little.
            def taken_over(previous: tuple[int, str | None] = seen) -> bool:
                attempts, flow_run = _attempt(store, run)
                return (attempts > previous[0] and flow_run is not None and flow_run != previous[1]) or engine.run(run)[
                    "state"
                ] != "running"

            wait_for(taken_over, 120, what="the new runner to take the run over")
            seen = _attempt(store, run)
            time.sleep(rng.uniform(0.3, 1.5))
            if engine.run(run)["state"] != "running":
                break  # too late: a kill now tests nothing
            serve.kill()
            killed += 1
            serve = Serve(env, home / "serve.log").start()
        wait_for(lambda: engine.run(run)["state"] != "running", timeout, interval=0.5, what="the chaos run to end")
        # Prefect mirrors the run: once it ended, no attempt may stay Running there (an attempt
        # whose runner died is marked Crashed by the next runner, even if the run ended by a
        # check-off while no runner owned it).
        flow_runs = wait_for(
            lambda: _settled_flow_runs(run),
            60,
            interval=1,
            what="every Prefect flow run of the chaos run to reach a final state",
        )
        # Notify steps are done once queued; the last serve's dispatcher delivers what is left
        # (a batch a killed dispatcher held is due again after its lease).
        wait_for(
            lambda: not _pending_notifications(store, run),
            120,
            interval=0.5,
            what="the outbox to deliver the run's notifications",
        )
    finally:
        stop.set()
        thread.join(30)
        serve.stop()
    elapsed = time.monotonic() - started
    tasks = {t["id"]: t for t in engine.tasks(run)}
    by_path: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in recorder.requests:
        by_path[r["path"]].append(r)
    late, wrong_keys, duplicates = [], [], 0
    for i in range(groups):
        task = tasks[f"h{i}"]
        calls = by_path.get(f"/chaos/{i}", [])
        duplicates += max(0, len(calls) - 1)
        wrong_keys += [c["key"] for c in calls if c["key"] != f"{run}:h{i}:0"]
        ended = task["ended_at"]
        late += [task["id"] for c in calls if ended and c["at"].isoformat() > ended]
    audit = engine.audit(run)
    runners = {e["actor"] for e in audit["entries"] if e["action"] in ("task.start", "task.done")}
    resumed = sum(1 for e in audit["entries"] if e["action"] == "task.resume")
    attempts = _attempt(store, run)[0]
    done_rows = Counter(e["target"] for e in audit["entries"] if e["action"] in ("task.done", "task.complete"))
    notified = Counter(
        json.loads(line)["task"] for line in (Path(env["RUNBOOK_HOME"]) / "console.jsonl").read_text().splitlines()
    )
    store.dispose()
    return {
        "run": run,
        "state": engine.run(run)["state"],
        "kills": killed,
        "steps": 3 * groups,
        "flow_run_states": flow_runs,
        "runners_that_worked": len(runners),
        "lease_attempts": attempts,
        "resumed_in_flight": resumed,
        "elapsed": elapsed,
        "http_calls": len(recorder.requests),
        "duplicate_calls": duplicates,
        "wrong_keys": wrong_keys,
        "executed_after_completion": late,
        "completed_twice": [t for t, n in done_rows.items() if n > 1],
        "lost_checkoffs": [t for t in acknowledged if tasks[t]["state"] != "done"],
        "acknowledged": len(acknowledged),
        "audit_verified": audit["verified"],
        "notify_missing": [f"n{i}" for i in range(groups) if notified[f"n{i}"] == 0],
        "not_done": [t for t, row in tasks.items() if row["state"] != "done"],
    }
