"""Chaos benchmark: SIGKILL `runbook serve` 100 times while a 210-step run (manual + http +
notify) goes on against a local HTTP server; report what the CI test asserts (20 kills there)
plus duplicates and time.

    python bench/bench_chaos.py [--kills 100] [--groups 70]

Starts its own Prefect server unless PREFECT_API_URL is set.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import goals  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--groups", type=int, default=70)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    lab = ROOT / "tests" / "flows"
    os.environ.update(
        {
            "RUNBOOK_HOME": str(tmp / "home"),
            "RUNBOOK_LIBRARY": str(lab / "library"),
            "RUNBOOK_SITES": str(lab / "sites"),
            "RUNBOOK_LEASE_TTL": "2",
            "PREFECT_LOGGING_LEVEL": "WARNING",
        }
    )
    from flows.prefect_api import ensure_prefect_api
    from tests.support.chaos import run_chaos
    from tests.support.recorder import Recorder

    server = ensure_prefect_api(tmp)
    try:
        with Recorder() as recorder:
            env = {
                k: os.environ[k]
                for k in ("RUNBOOK_HOME", "RUNBOOK_LIBRARY", "RUNBOOK_SITES", "RUNBOOK_LEASE_TTL", "PREFECT_API_URL")
            }
            env.update({"RUNBOOK_OUTBOUND_ALLOW": f"127.0.0.1:{recorder.port}", "IAM_URL": recorder.url})
            os.environ.update(env)
            report = run_chaos(kills=args.kills, groups=args.groups, env=env, home=tmp, recorder=recorder, timeout=3600)
    finally:
        if server is not None:
            server.stop()
    print(
        f"chaos: {report['kills']} SIGKILLs of runbook serve during a {report['steps']}-step run "
        f"({report['elapsed']:.0f} s)"
    )
    for key in (
        "state",
        "runners_that_worked",
        "lease_attempts",
        "resumed_in_flight",
        "http_calls",
        "duplicate_calls",
        "wrong_keys",
        "executed_after_completion",
        "completed_twice",
        "acknowledged",
        "flow_run_states",
        "lost_checkoffs",
        "notify_missing",
        "audit_verified",
    ):
        print(f"  {key:<26} {report[key]}")
    extra = {"kills": report["kills"], "steps": report["steps"]}
    lost = len(report["lost_checkoffs"])
    goals.report(__file__, "lost_checkoffs", lost, max(1, report["acknowledged"]), "<= 0.0", **extra)
    goals.report(__file__, "duplicate_calls", report["duplicate_calls"], report["http_calls"], "<= 0.02", **extra)


if __name__ == "__main__":
    main()
