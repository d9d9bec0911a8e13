"""Scale-out on this machine: `prefect server start` on PostgreSQL, the store on PostgreSQL,
`runbook deploy`, two `runbook worker`s (one flow run at a time each) and two `runbook serve
--no-runner` API replicas. Another system emits `site.lockdown` for two sites into Prefect; the
deployment trigger declares each lockdown and the runs land on different workers; team leads'
check-offs go alternately to the two replicas; one worker's whole process tree is SIGKILLed
mid-run: its run is taken over by the other worker (a new attempt; the old one marked
Crashed) and finishes there, no automated step runs twice and no check-off is lost."""

from __future__ import annotations

from collections import Counter

import pytest
import requests

from flows.store import Store
from tests.support.cluster import Cluster
from tests.support.processes import wait_for

# The cluster (tests/support/cluster.py) starts its own Prefect server on PostgreSQL, through no fixture.
pytestmark = [pytest.mark.pg, pytest.mark.prefect]

SITES = ("east", "west")
CHECKS = [f"check:{n}" for n in range(4)]


def test_two_sites_on_two_workers_survive_a_killed_worker(tmp_path, recorder):
    cluster = Cluster(
        tmp_path,
        {"IAM_URL": recorder.url, "RUNBOOK_OUTBOUND_ALLOW": f"127.0.0.1:{recorder.port}", "RUNBOOK_LEASE_TTL": "3"},
    )
    store = None
    try:
        cluster.start()
        store = Store(cluster.store_url)
        tokens = {
            site: cluster.cli("users", "add", f"lead-{site}", "--role", "team_lead", "--team", f"{site}/ops")
            for site in SITES
        }
        workers = {name: cluster.worker(name, limit=1) for name in ("w1", "w2")}
        replicas = [cluster.replica(), cluster.replica()]
        sent = Counter()

        def check_off(site: str, run: str, task: str) -> None:
            replica = replicas[sum(sent.values()) % 2]  # alternately to each replica
            r = requests.post(
                f"http://127.0.0.1:{replica.port}/api/runs/{run}/tasks/{task}/complete",
                headers={"Authorization": f"Bearer {tokens[site]}"},
                json={"note": "ok"},
                timeout=60,
            )
            assert r.status_code == 200, (replica.port, task, r.status_code, r.text[:300])
            sent[replica.port] += 1

        def runs() -> dict[str, dict]:
            with store.read() as r:
                return {row["site_id"]: row for row in r.runs()}

        def owner(site: str) -> str:
            lease = runs()[site]["lease_owner"] or ""
            return "" if lease.startswith("pending:") else lease.split(":", 1)[0]

        def task_state(run: str, task: str) -> str | None:
            with store.read() as r:
                row = r.task(run, task)
            return row["state"] if row else None

        for site in SITES:
            cluster.emit_lockdown(site)
        wait_for(lambda: set(runs()) == set(SITES), 180, what="the site.lockdown trigger to start both runs")
        ids = {site: row["id"] for site, row in runs().items()}
        wait_for(lambda: all(owner(s) for s in SITES), 180, what="both runs owned by workers")
        first_owner = {s: owner(s) for s in SITES}
        assert set(first_owner.values()) == {"w1", "w2"}, f"the runs landed on different workers: {first_owner}"
        cluster.emit_lockdown("east")  # the same event again (automations do not deduplicate; the store does)
        wait_for(lambda: all(f"/open/{s}" in recorder.paths() for s in SITES), 120, what="both runs' first steps")

        # Both runs progress: half of each run's checks, alternately to each replica.
        for n in (0, 1):
            for site in SITES:
                check_off(site, ids[site], CHECKS[n])
        for site in SITES:
            for n in (0, 1):
                wait_for(
                    lambda s=site, k=n: task_state(ids[s], f"grant:{k}") == "done", 120, what=f"grant:{n} of {site}"
                )

        # West finishes on its worker, which is then free (one flow run at a time).
        for n in (2, 3):
            check_off("west", ids["west"], CHECKS[n])
        wait_for(lambda: task_state(ids["west"], "confirm") == "waiting", 120, what="west's grants")
        check_off("west", ids["west"], "confirm")
        wait_for(lambda: runs()["west"]["state"] == "completed", 120, what="west completed")

        # East's worker dies with everything below it, mid-run: two grants done, two to go.
        victim = first_owner["east"]
        survivor = "w1" if victim == "w2" else "w2"
        workers[victim].kill()
        for n in (2, 3):  # check-offs keep coming while nobody owns the run
            check_off("east", ids["east"], CHECKS[n])
        wait_for(lambda: owner("east") == survivor, 120, what=f"{survivor} to take east over")
        wait_for(lambda: task_state(ids["east"], "confirm") == "waiting", 120, what="east's last grants")
        check_off("east", ids["east"], "confirm")
        wait_for(lambda: runs()["east"]["state"] == "completed", 120, what="east completed on the survivor")

        # 0 automated steps twice: each call reached the IAM recorder exactly once, with its key.
        calls = Counter(r["path"] for r in recorder.requests)
        expected = {f"/{what}/{s}" for s in SITES for what in ("open", "close")} | {
            f"/grants/{s}/{n}" for s in SITES for n in range(4)
        }
        assert set(calls) == expected and set(calls.values()) == {1}, calls
        # 0 check-offs lost: every acknowledged one is in the store.
        with store.read() as r:
            recorded = sum(len(r.checkoffs(ids[s])) for s in SITES)
            takeovers = r.lease_takeovers()
        wait_for(
            lambda: _flow_run_states(cluster.env["PREFECT_API_URL"], "declare-lockdown") == ["COMPLETED"] * 3,
            120,
            what="three declare-lockdown flow runs completed (both sites, and east again)",
        )
        assert len(runs()) == 2, "the repeated lockdown started nothing"
        assert recorded == sum(sent.values()) == 2 * (len(CHECKS) + 1) and len(sent) == 2, (recorded, sent)
        assert takeovers >= 1

        # Prefect mirrors it: east's killed attempt was marked Crashed by the new owner.
        # (The attempt reports its end to Prefect a moment after the run ended in the store.)
        wait_for(
            lambda: {"CRASHED", "COMPLETED"} <= set(_attempt_states(cluster.env["PREFECT_API_URL"], ids["east"])),
            120,
            what="east's attempts in Prefect: the killed one Crashed, the last one Completed",
        )
    finally:
        if store is not None:
            store.dispose()
        cluster.stop()


def _attempt_states(api_url: str, run_id: str) -> list[str]:
    r = requests.post(
        f"{api_url}/flow_runs/filter", json={"flow_runs": {"tags": {"all_": [f"run:{run_id}"]}}}, timeout=30
    )
    r.raise_for_status()
    return sorted(fr["state"]["type"] for fr in r.json())


def _flow_run_states(api_url: str, flow_name: str) -> list[str]:
    r = requests.post(f"{api_url}/flow_runs/filter", json={"flows": {"name": {"any_": [flow_name]}}}, timeout=30)
    r.raise_for_status()
    return sorted(fr["state"]["type"] for fr in r.json())
