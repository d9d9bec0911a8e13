"""Benchmark: load + validate + plan a generated 1,000-step runbook, as a ratio against
`yaml.load` (C loader) of the same file in the same run. Goal: ratio <= 3.

    python bench/bench_plan.py [--steps 1000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.goals import report  # noqa: E402
from runbooks.plan import load_plan  # noqa: E402
from runbooks.sites import load_site  # noqa: E402

KINDS = ["manual", "approval", "http", "notify", "wait", "allocate"]


def generate(steps: int) -> str:
    """A runbook shaped like the library's: chains of per-item pipelines, expressions, objectives."""
    out = [
        "id: generated",
        "name: Generated runbook",
        "version: 1",
        "inputs:",
        "  home_agents: {type: integer, default: 48}",
        "objectives:",
        '  - {id: live, name: Live, count: s0001, target: "${{ inputs.home_agents }}", within: 72h}',
        "steps:",
        "  - id: s0000",
        "    kind: muster",
        '    audience: "${{ site.staff }}"',
        "    question: Where?",
        "    options: {onsite: On site, home: From home, unavailable: Cannot work}",
        "    quorum: 0.9",
        "    due: 4h",
        "    owner: team:supervisors",
    ]
    for i in range(1, steps):
        sid = f"s{i:04d}"
        kind = KINDS[i % len(KINDS)]
        prev = f"s{i - 1:04d}" if i % 7 else "s0000"
        out += [
            f"  - id: {sid}",
            f"    kind: {kind}",
            f'    name: "Step {i} for ${{{{ site.name }}}} ({i})"',
            f"    needs: [{prev}]",
            "    estimate: 10m",
            "    due: 2h",
            "    phase: generated",
        ]
        if kind == "manual":
            out += ["    owner: team:operations", "    fields: {note_id: {type: string, required: true}}"]
        elif kind == "approval":
            out += ["    owner: role:manager"]
        elif kind == "http":
            out += [
                "    with:",
                "      method: POST",
                f'      url: "${{{{ env.IAM_URL }}}}/grants/{i}"',
                f'      json: {{user: "${{{{ run.id }}}}", step: {i}, site: "${{{{ site.id }}}}"}}',
                "      expect: [200, 201]",
                "    retries: 3",
            ]
        elif kind == "notify":
            out += [
                "    to: [channel:ops, role:manager]",
                f'    message: "Step {i}: ${{{{ steps.{prev}.state }}}} at ${{{{ site.name }}}}"',
            ]
        elif kind == "wait":
            out += ["    for: 5m"]
        elif kind == "allocate":
            out += [
                "    pool: laptops",
                "    owner: team:it",
                "    handover: true",
                '    for_each: "${{ steps.s0000.answers.home }}"',
                "    as: agent",
            ]
    return "\n".join(out) + "\n"


def best_of(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    site = load_site(ROOT / "runbooks" / "sites" / "xian")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generated.yaml"
        path.write_text(generate(args.steps))
        plan = load_plan(path, site)  # warm up, and prove it is valid
        assert len(plan.steps) == args.steps
        base = best_of(lambda: yaml.load(path.read_text(), Loader=yaml.CSafeLoader), args.repeat)
        ours = best_of(lambda: load_plan(path, site), args.repeat)
    b, o = statistics.median(base), statistics.median(ours)
    print(f"runbook: {args.steps} steps, {len(generate(args.steps).splitlines())} lines")
    print(f"yaml.load (CSafeLoader)        median {b * 1000:8.1f} ms")
    print(f"load + validate + plan         median {o * 1000:8.1f} ms")
    print(f"ratio                          {o / b:8.2f}x  (goal <= 3x)")
    report(__file__, "plan_load_s", o, b, "<= 3.0", steps=args.steps, statistic="median")


if __name__ == "__main__":
    main()
