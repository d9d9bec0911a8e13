"""Benchmark: the dashboard's run page of a run with 10,000 tasks (2,500 people answered a roll
call, each with a four-step pipeline; half through the first step, the rest overdue), served
over a socket by the real app (session cookie, board read from the store, charts, template),
against rendering the same template with the same data precomputed, in the same process and
run. Goal: <= 2x the bare render, and under 150 ms.

    python bench/bench_board.py [--people 2500] [--requests 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bigrun import big_run, timed  # noqa: E402
from bench.goals import report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=2500)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument(
        "--with-forecast",
        action="store_true",
        help="run the app's background forecaster while measuring (by default off: pages only read "
        "the stored forecast either way, and its simulation, seconds at 10,000 tasks, shares the CPU)",
    )
    args = parser.parse_args()
    with big_run(args.people) as big:
        import requests

        from console import auth, charts, i18n, listing
        from console.api import create_app
        from console.pages import render_page
        from console.web import fmt_value
        from tests.support.processes import served_app

        store, engine, me, run, tasks = big.store, big.engine, big.me, big.run, big.tasks
        token = auth.add_account(store, "bench", "manager", by="bench")
        with served_app(create_app(store, forecasts=args.with_forecast)) as base:
            session = requests.Session()
            session.post(f"{base}/login", data={"token": token})
            me_account = session.get(f"{base}/api/me").json()
            url = f"{base}/runs/{run}"
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
                dur=i18n.duration,
                fmt_value=fmt_value,
                title=data["run"]["name"],
                data=data,
                live_runs=[f"{run}:0"],
                feed_tz=data["site"]["timezone"],
                charts={o["id"]: charts.burnup(o) for o in data["objectives"]},
                graph=charts.graph(data["graph"]),
                pools=[],
                headcounts=[engine.headcount(run, m) for m in data["open_musters"]],
                tasks=listing.task_list(engine, run, {}),  # the page's task list (none shown without a filter)
                idem="bench-idem-0000",
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
            report(__file__, "board_unchanged_ms", statistics.median(warm), b50, "<= 2.0", tasks=tasks)
            report(__file__, "board_after_change_ms", statistics.median(cold), b50, "<= 3.0", tasks=tasks)


if __name__ == "__main__":
    main()
