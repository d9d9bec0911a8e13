"""What the runner benchmarks share (bench/bench_runner.py, bench/runner_mirror.py): one Prefect
server measured side by side — a scratch site, waiting until the server has settled and is
quiet before and after each side, waiting for a run to end, and what this process sent the
server (`Traffic`)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from bench.bench_scale import tree_cpu

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def setup(tmp: Path) -> None:
    os.environ["RUNBOOK_HOME"] = str(tmp / "home")
    site = tmp / "sites" / "bench"
    site.mkdir(parents=True)
    (site / "site.yaml").write_text("id: bench\nname: Bench\nkind: bench\nteams:\n  it: {name: IT}\n")
    (site / "staff.csv").write_text("id,name,team\nB1,One,it\n")
    os.environ["RUNBOOK_SITES"] = str(tmp / "sites")


def settle(timeout: float = 180, quick: float | None = None) -> None:
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


def quiet(server_pid: int, window: float = 2.0, windows: int = 3, below: float = 0.1, most: float = 300) -> None:
    """Wait until the server has done its work: `windows` windows in a row in which it used less
    than `below` CPU-s a second. A flow run that has returned, or a ping that answers quickly, says
    nothing of the events still queued: the task-run recorder writes them one by one after, and
    the event persister every 5 s (hence 3 × 2 s). Otherwise the hand-written side's backlog is
    charged to the side measured next."""
    calm, t_end = 0, time.monotonic() + most
    while calm < windows and time.monotonic() < t_end:
        c0, t0 = tree_cpu(server_pid), time.monotonic()
        time.sleep(window)
        calm = calm + 1 if (tree_cpu(server_pid) - c0) / (time.monotonic() - t0) < below else 0


def after_side(server_pid: int | None) -> None:
    """Before and after each side's measurement: the server answers and (when this script started
    it) has written what it was sent, so that one side's backlog is not charged to the next."""
    settle()
    if server_pid:
        quiet(server_pid)


def wait_done(engine, run_id: str, timeout: float = 3600) -> float:
    t0 = time.perf_counter()
    while engine.run(run_id)["state"] == "running":
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(run_id)
        time.sleep(0.1)
    return time.perf_counter()


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
