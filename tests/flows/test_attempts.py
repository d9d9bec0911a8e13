"""Attempts in process (`runbook worker --type inline`): the pool's execute-run flow run is
claimed and run in a thread of the worker's own process, owning the run through its lease;
a stopping worker hands the lease back and its attempt ends Crashed while the run goes on.
Against the test session's Prefect server."""

from __future__ import annotations

import threading
import uuid

from flows.actors import local_operator
from flows.lifecycle import Engine
from flows.store import Store
from tests.flows.test_prefect_control import WAITING, attempt_in
from tests.support.processes import wait_for


def test_a_worker_runs_the_attempt_in_its_own_process_and_hands_the_lease_back_when_stopping(
    lab_env, recorder, prefect_api, monkeypatch, tmp_path
):
    # Imported here, not at collection: Prefect must first see the session server's PREFECT_API_URL.
    from prefect.deployments import run_deployment

    from flows.attempts import AttemptWorker
    from flows.deploy import EXECUTE_DEPLOYMENT, register_deployments

    for key, value in {
        "PREFECT_API_URL": prefect_api,
        "RUNBOOK_OUTBOUND_ALLOW": f"127.0.0.1:{recorder.port}",
        "IAM_URL": recorder.url,
        "RUNBOOK_LEASE_TTL": "3",
        "RUNBOOK_WORKER_NAME": "inline-w1",
    }.items():
        monkeypatch.setenv(key, value)
    pool = f"inline-{uuid.uuid4().hex[:6]}"
    register_deployments(pool)
    runbook = tmp_path / "waiting.yaml"
    runbook.write_text(WAITING)
    store = Store()
    engine = Engine(store)
    run = engine.start(runbook, "lab", local_operator())["id"]
    attempt = run_deployment(EXECUTE_DEPLOYMENT, parameters={"run_id": run}, timeout=0, tags=[f"run:{run}"])
    worker = AttemptWorker(pool, "inline-w1")
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:

        def owner() -> str:
            with store.read() as r:
                return r.run_head(run)["lease_owner"] or ""

        wait_for(lambda: owner().startswith("inline-w1:"), 30, what="the attempt owning the run in this process")
        wait_for(lambda: [t["state"] for t in engine.tasks(run, step="confirm")] == ["waiting"], 30)
        assert [r["path"] for r in recorder.requests] == ["/ok"]
        assert list(worker.running) == [str(attempt.id)] and worker.started == 1
    finally:
        stop.set()
        worker.wake()
        thread.join(60)
    assert not thread.is_alive()
    with store.read() as r:
        assert r.run_head(run)["lease_owner"] is None, "the lease was handed back"
    crashed = attempt_in(run, "CRASHED", "the stopped attempt Crashed")
    assert str(crashed.id) == str(attempt.id) and "the run is still running" in crashed.state.message
    assert engine.run(run)["state"] == "running"
    store.dispose()
