"""Benchmark: issue 17's reads on a run of a big site (1,000 people answered a roll call, half
through their laptop step: ~1,500 audit entries, 4,000 tasks), served over a socket by the real
app, each against a baseline read of the same run in the same process and run:
- `audit.csv` (the whole audit as CSV) against `GET /api/runs/{run}/audit` (the same entries as
  JSON): goal <= 1.5x;
- the audit page filtered (`action=task.complete`, page 2 of 50 a page) against the same JSON:
  goal <= 2x;
- a person's JSON (`/api/runs/{run}/people/{id}`) and the people search (`?q=`) against a task's
  page JSON (`/api/runs/{run}/tasks/{task}`): goal <= 3x.
Prints one JSON line per goal: {"bench", "metric", "ours", "baseline", "ratio", "goal", "met"}.

    python bench/bench_exports.py [--people 1000] [--requests 30]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bigrun import big_run, timed  # noqa: E402

RUNBOOK = """id: bench_exports
name: Exports benchmark
steps:
  - id: roll
    kind: muster
    owner: team:ops
    audience: "${{ site.staff }}"
    question: Where can you work tomorrow?
    options: {onsite: On site, home: From home}
  - {id: laptop, kind: manual, for_each: "${{ steps.roll.answers.home }}", as: agent, owner: team:ops,
     name: "Laptop for ${{ agent.name }}"}
  - {id: setup, kind: manual, for_each: "${{ steps.roll.answers.home }}", as: agent, needs: [laptop],
     owner: team:ops, name: "Setup for ${{ agent.name }}"}
  - {id: go_live, kind: approval, for_each: "${{ steps.roll.answers.home }}", as: agent, needs: [setup],
     owner: role:manager, name: "Go live: ${{ agent.name }}"}
"""


def median_ms(call, n: int) -> float:
    return statistics.median(timed(call, n))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    with big_run(
        args.people, sys.stderr, runbook_id="bench_exports", runbook=RUNBOOK, timezone="UTC", time_scale=None
    ) as big:
        import requests

        from console import auth
        from console.api import create_app
        from tests.support.processes import served_app

        store, engine, run = big.store, big.engine, big.run
        entries = len(engine.audit(run)["entries"])
        token = auth.add_account(store, "bench", "manager", by="bench")
        with served_app(create_app(store)) as base:
            api = requests.Session()
            api.headers["Authorization"] = f"Bearer {token}"
            page = requests.Session()
            page.post(f"{base}/login", data={"token": token})

            def get(session: requests.Session, path: str, **params: str) -> None:
                r = session.get(base + path, params=params, timeout=60)
                assert r.status_code == 200, (path, r.status_code, r.text[:200])

            person = f"P{args.people // 2:05d}"
            calls = {
                "audit_json": lambda: get(api, f"/api/runs/{run}/audit"),
                "audit_csv": lambda: get(api, f"/runs/{run}/audit.csv"),
                "audit_page": lambda: get(page, f"/runs/{run}/audit", action="task.complete", page="2"),
                "task_json": lambda: get(api, f"/api/runs/{run}/tasks/laptop:{person}"),
                "person_json": lambda: get(api, f"/api/runs/{run}/people/{person}"),
                "people_search": lambda: get(api, f"/api/runs/{run}/people", q="P0042"),
            }
            for call in calls.values():  # warm every path
                call()
            ms = {name: median_ms(call, args.requests) for name, call in calls.items()}
            goals = [
                ("audit_csv_vs_audit_json", "audit_csv", "audit_json", 1.5),
                ("audit_page_filtered_vs_audit_json", "audit_page", "audit_json", 2.0),
                ("person_json_vs_task_json", "person_json", "task_json", 3.0),
                ("people_search_vs_task_json", "people_search", "task_json", 3.0),
            ]
            for metric, ours, baseline, goal in goals:
                ratio = ms[ours] / ms[baseline]
                line = {
                    "bench": "exports",
                    "metric": metric,
                    "ours": round(ms[ours], 1),
                    "baseline": round(ms[baseline], 1),
                    "ratio": round(ratio, 2),
                    "goal": f"<= {goal}x",
                    "met": ratio <= goal,
                    "unit": "ms (median)",
                    "audit_entries": entries,
                    "people": args.people,
                }
                print(json.dumps(line))


if __name__ == "__main__":
    main()
