"""One JSON line per goal, shared by every benchmark: `{"bench", "metric", "ours", "baseline",
"ratio", "goal", "met", …}` (BENCHMARKS.md). A goal is a ratio bound, `"<= 1.0"` or `">= 0.5"`;
`met` is computed here, so no benchmark judges itself differently."""

from __future__ import annotations

import json
import operator
from pathlib import Path
from typing import Any

_OPS = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}


def goal_line(bench: str, metric: str, ours: float, baseline: float, goal: str, **extra: Any) -> dict[str, Any]:
    """The line of one goal; `bench` may be a file (`__file__`): its stem without `bench_`."""
    name = Path(bench).stem.removeprefix("bench_") if bench.endswith(".py") else bench
    op, _, bound = goal.partition(" ")
    if op not in _OPS:
        raise ValueError(f"goal {goal!r}: expected '<= x' or '>= x'")
    ratio = ours / baseline if baseline else float("inf")
    return {
        "bench": name,
        "metric": metric,
        "ours": round(ours, 4),
        "baseline": round(baseline, 4),
        "ratio": round(ratio, 3),
        "goal": goal,
        "met": bool(_OPS[op](ratio, float(bound))),
        **extra,
    }


def report(bench: str, metric: str, ours: float, baseline: float, goal: str, **extra: Any) -> dict[str, Any]:
    """Print the goal's JSON line (flushed: a benchmark's output is often piped) and return it."""
    line = goal_line(bench, metric, ours, baseline, goal, **extra)
    print(json.dumps(line), flush=True)
    return line
