"""Benchmark: the dashboard's run page of a run with 10,000 tasks (2,500 people answered a roll
call, each with a four-step pipeline; half through the first step, the rest overdue), served
over a socket by the real app (session cookie, board read from the store, charts, template),
against rendering the same template with the same data precomputed, in the same process and
run. Goal: <= 2x the bare render, and under 150 ms.

    python bench/bench_board.py [--people 2500] [--requests 50]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import bigsite  # noqa: E402
from bench.goals import report  # noqa: E402

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


def timed(call, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=2500)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument(
        "--with-forecast",
        action="store_true",
        help="keep the objectives' Monte-Carlo forecast in the page's computation (by default it is "
        "left out: it costs seconds per change at 10,000 tasks and moves to the background)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        library, sites = bigsite.write(tmp, args.people, "bench_board", RUNBOOK, timezone="Asia/Shanghai")
        os.environ.update(
            {
                "RUNBOOK_HOME": str(Path(tmp) / "home"),
                "RUNBOOK_LIBRARY": str(library),
                "RUNBOOK_SITES": str(sites),
                "RUNBOOK_TIME_SCALE": "3600",
            }
        )
        os.environ.pop("RUNBOOK_DATABASE_URL", None)
        import requests
        import uvicorn

        from console import auth, charts, i18n, listing
        from console.api import create_app
        from console.pages import render_page
        from console.web import fmt_value
        from flows.actors import local_operator
        from flows.lifecycle import Engine
        from flows.store import Store
        from tests.support.processes import free_port, wait_for

        if not args.with_forecast:
            from flows import forecast

            forecast._compute = lambda *a, **k: {}  # the board reads no forecast: what is left is ours

        store = Store()
        engine = Engine(store)
        me = local_operator()
        t0 = time.perf_counter()
        run = engine.start("bench_board", "big", me)["id"]
        for i in range(args.people):
            engine.answer(run, "roll", f"P{i:05d}", "home", me, via="lead")
        for i in range(0, args.people, 2):
            engine.complete(run, f"laptop:P{i:05d}", me)
        with store.read() as r:
            tasks = r.count_tasks(run)
        print(f"set up: {tasks} tasks in {time.perf_counter() - t0:.0f} s")

        token = auth.add_account(store, "bench", "manager", by="bench")
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        wait_for(lambda: server.started, 30, what="uvicorn")
        session = requests.Session()
        session.post(f"http://127.0.0.1:{port}/login", data={"token": token})
        me_account = session.get(f"http://127.0.0.1:{port}/api/me").json()
        url = f"http://127.0.0.1:{port}/runs/{run}"
        assert session.get(url).status_code == 200

        data = engine.board(run)
        context = dict(
            lang="en",
            _=i18n.translator("en"),
            me={"name": me_account["name"], "role": "manager"},
            csrf=me_account["csrf"],
            here=f"/runs/{run}",
            local=i18n.local_time,
            feed_words=i18n.feed_words,
            ngettext=i18n.plural("en"),
            zone_of=i18n.zone_abbreviation,
            feed_tz=data["site"]["timezone"],
            idem="x" * 16,
            dur=i18n.duration,
            fmt_value=fmt_value,
            title=data["run"]["name"],
            data=data,
            live_runs=[f"{run}:0"],
            charts={o["id"]: charts.burnup(o) for o in data["objectives"]},
            graph=charts.graph(data["graph"]),
            pools=[],
            headcounts=[engine.headcount(run, m) for m in data["open_musters"]],
            tasks=listing.task_list(engine, run, {}),  # the page's task list (none shown without a filter)
            flash=None,
        )
        html = render_page("run.html", **context)
        served = session.get(url).text
        assert abs(len(html) - len(served)) < 2000, "the baseline renders the same page"

        def served_ms() -> float:
            return float(session.get(url).headers["server-timing"].split("dur=")[1])

        for _ in range(5):  # warm both paths
            served_ms()
            render_page("run.html", **context)
        warm = [served_ms() for _ in range(args.requests)]
        bare = timed(lambda: render_page("run.html", **context), args.requests)
        cold = []
        for i in range(1, 2 * args.requests, 2):  # the first view after a change: a check-off, then the page
            engine.complete(run, f"laptop:P{i:05d}", me)
            cold.append(served_ms())
        board = timed(lambda: engine.compute_board(run), args.requests)
        b50 = statistics.median(bare)

        def p(values: list[float], q: float) -> float:
            return sorted(values)[min(len(values) - 1, int(len(values) * q))]

        print(
            f"run page, {tasks} tasks, {len(served) // 1024} KiB; server time (Server-Timing), p50 / p90:\n"
            f"  bare render of the precomputed data   {b50:6.1f} / {p(bare, 0.9):6.1f} ms\n"
            f"  page, run unchanged since last view   {statistics.median(warm):6.1f} / {p(warm, 0.9):6.1f} ms "
            f"-> {statistics.median(warm) / b50:.2f}x\n"
            f"  page, first view after a check-off    {statistics.median(cold):6.1f} / {p(cold, 0.9):6.1f} ms "
            f"-> {statistics.median(cold) / b50:.2f}x\n"
            f"  the board's reads alone (uncached)    {statistics.median(board):6.1f} / {p(board, 0.9):6.1f} ms\n"
            f"  (goal: <= 2x the bare render unchanged, <= 3x after a change, and < 150 ms)"
        )
        extra = {"tasks": tasks, "forecast": args.with_forecast}
        report(__file__, "board_unchanged_ms", statistics.median(warm), b50, "<= 2.0", **extra)
        report(__file__, "board_after_change_ms", statistics.median(cold), b50, "<= 3.0", **extra)
        server.should_exit = True
        store.dispose()


if __name__ == "__main__":
    main()
