"""Benchmark: revoking and verifying every grant of a cancelled run through the revoker's
sweeps (flows/revoker.py: claim, render revoke/verify, send both, record, audit), against the
same number of bare DELETE + GET pairs sent to the same IAM stand-in through the http step
executor (same allowlist checks, same pinned connections), in the same process. Reports the
wall time of each and the ratio (one JSON line per goal).

    python bench/bench_grants.py [--grants 100]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.iam import IamStandIn  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--grants", type=int, default=100)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="bench-grants-")
    with IamStandIn() as iam:
        os.environ.update(
            {
                "RUNBOOK_HOME": home,
                "IAM_URL": iam.url,
                "RUNBOOK_OUTBOUND_ALLOW": f"127.0.0.1:{iam.port}",
                "RUNBOOK_SITES": str(ROOT / "tests" / "flows" / "sites"),
            }
        )
        os.environ.pop("RUNBOOK_DATABASE_URL", None)
        from flows import revoker, work
        from flows.actors import local_operator
        from flows.lifecycle import Engine
        from flows.steps import StepJob, executor
        from flows.store import Store, utcnow

        people = [f"P{i:05d}" for i in range(args.grants)]
        runbook = Path(home) / "bench_grants.yaml"
        text = (ROOT / "tests" / "flows" / "library" / "grants_laptop.yaml").read_text()
        text = text.replace('["C0001", "C0002"]', json.dumps(people)).replace(
            "kind: allocate", "kind: wait\n    for: 0s"
        )
        text = text.replace("    pool: laptops\n", "").replace(', asset: "${{ steps.laptop.outputs.asset_tag }}"', "")
        runbook.write_text(text)
        store, op = Store(), local_operator()
        engine = Engine(store)
        run = engine.start(runbook, "camp", op)["id"]
        with store.transaction() as tx:
            tx.acquire_lease(run, "bench", utcnow() + timedelta(hours=1), utcnow())
        while True:  # grant them all (not timed)
            claimed = work.claim(store, run, "bench")
            results = [(j, executor(j.kind)(j), None) for j in claimed.jobs]
            if results:
                work.record(store, run, "bench", results)
            with store.read() as r:
                if len(r.grants(run_id=run, states=["active"])) == args.grants:
                    break
        ids = [g["grant_id"] for g in iam.active()]
        engine.cancel(run, op, reason="bench")
        start = time.perf_counter()
        while True:
            revoker.sweep(store)
            with store.read() as r:
                if not r.grants(run_id=run, states=["active", "revoking", "revoke_failed"]):
                    break
        ours = time.perf_counter() - start
        assert iam.active() == []
        for gid in ids:  # the grants back, for the baseline's own DELETEs to find
            iam.grants[gid]["active"] = True
        site = {"id": "camp", "lang": "en", "channels": {}}

        def job(method: str, gid: str) -> StepJob:
            return StepJob(
                run_id="b",
                task_id=gid,
                step_id="b",
                kind="http",
                item_key=None,
                params={"with": {"method": method, "url": f"{iam.url}/grants/{gid}", "expect": [200, 204, 404]}},
                idempotency_key=f"b:{gid}:{method}",
                drill=False,
                send_in_drill=False,
                site=site,
                home=Path(home),
            )

        start = time.perf_counter()
        for gid in ids:
            executor("http")(job("DELETE", gid))
            executor("http")(job("GET", gid))
        baseline = time.perf_counter() - start
        store.dispose()
    ratio = ours / baseline
    print(
        json.dumps(
            {
                "bench": "grants",
                "metric": f"revoke+verify {args.grants} grants (s)",
                "ours": round(ours, 3),
                "baseline": round(baseline, 3),
                "ratio": round(ratio, 2),
                "goal": "<= 5x",
                "met": ratio <= 5,
            }
        )
    )


if __name__ == "__main__":
    main()
