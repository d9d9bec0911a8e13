"""Benchmark: the after-action report of a run with 10,000 tasks (2,500 people answered a roll
call, each with a four-step pipeline; half through the first step) — the JSON from the store
(`Engine.report`), then the HTML document and the PDF (WeasyPrint) — against the floor of
reading the same run's task rows and audit chain alone, in the same process and run. Goals:
the JSON <= 5x the bare reads and under 2 s; the PDF under 5 s.

    python bench/bench_report.py [--people 2500] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bigrun import big_run, timed  # noqa: E402  (the same 10,000-task run as the dashboard's)


def line(metric: str, ours: float, baseline: float | None, goal: str, met: bool, **extra) -> None:
    ratio = round(ours / baseline, 2) if baseline else None
    print(
        json.dumps(
            {
                "bench": "report",
                "metric": metric,
                "ours": round(ours, 1),
                "baseline": baseline and round(baseline, 1),
                "ratio": ratio,
                "goal": goal,
                "met": met,
                **extra,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=2500)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with big_run(args.people, out=sys.stderr) as big:
        from console.report_doc import report_html, report_pdf

        store, engine, run, tasks = big.store, big.engine, big.run, big.tasks

        def bare() -> None:
            with store.read() as r:
                r.tasks(run)
                r.audit(run)

        engine.report(run)  # warm (plan cache, templates)
        reads = statistics.median(timed(bare, args.repeat))
        built = timed(lambda: engine.report(run), args.repeat)
        data = engine.report(run)
        html = statistics.median(timed(lambda: report_html(data, "zh-CN"), args.repeat))
        pdf_ms = timed(lambda: report_pdf(data, "zh-CN"), max(2, args.repeat // 2))
        ours = statistics.median(built)
        line(
            "report_json_ms",
            ours,
            reads,
            "<= 5x the bare reads and < 2000 ms",
            ours <= 5 * reads and ours < 2000,
            tasks=tasks,
        )
        line("report_html_ms", html, None, "< 500 ms", html < 500, tasks=tasks)
        pdf = statistics.median(pdf_ms)
        line("report_pdf_ms", pdf, None, "< 5000 ms", pdf < 5000, tasks=tasks, bytes=len(report_pdf(data, "en")))


if __name__ == "__main__":
    main()
