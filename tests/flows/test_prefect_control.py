"""Prefect tells the truth and obeys: an attempt's flow run ends in the run's state (Failed naming
the failed step and its line, Cancelled with the reason, Crashed when interrupted), and a cancel
or retry asked through Prefect's API is carried out by the engine per RUNBOOK_PREFECT_CONTROL,
audited as prefect:<flow run id>. Against the test session's real Prefect server."""

from __future__ import annotations

import uuid

import pytest

from flows.actors import local_operator
from flows.lifecycle import Engine
from flows.runner import Runner
from flows.store import Store
from tests.support.processes import wait_for

WAITING = (
    "id: waiting\nname: Waiting\nsteps:\n"
    "  - id: ping\n    kind: http\n"
    '    with: {method: POST, url: "${{ env.IAM_URL }}/ok"}\n'
    "  - id: confirm\n    kind: manual\n    needs: [ping]\n    owner: team:it\n"
)
BROKEN = (
    "id: broken\nname: Broken\nsteps:\n"
    "  - id: note\n    kind: manual\n    owner: team:it\n"
    "  - id: grant\n    kind: http\n    retries: 0\n"
    '    with: {method: POST, url: "${{ env.IAM_URL }}/fail500"}\n'
)


@pytest.fixture
def control_env(lab_env, recorder, prefect_api, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    monkeypatch.setenv("RUNBOOK_OUTBOUND_ALLOW", f"127.0.0.1:{recorder.port}")
    monkeypatch.setenv("IAM_URL", recorder.url)
    monkeypatch.setenv("RUNBOOK_LEASE_TTL", "3")
    monkeypatch.delenv("RUNBOOK_PREFECT_CONTROL", raising=False)
    return lab_env


@pytest.fixture
def running(control_env):
    """A store, its engine and a started runner; stopped afterwards."""
    store = Store()
    runner = Runner(store).start()
    yield store, Engine(store), runner
    runner.stop()
    store.dispose()


def flow_runs(run_id: str) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"run:{run_id}"])))


def attempt_in(run_id: str, state_type: str, what: str, timeout: float = 30):
    def found():
        return next((f for f in flow_runs(run_id) if f.state and f.state.type.value == state_type), None)

    try:
        return wait_for(found, timeout, interval=0.5, what=what)
    except AssertionError as e:
        seen = [(str(f.id), f.state and f.state.type.value, f.state and f.state.message) for f in flow_runs(run_id)]
        raise AssertionError(f"{e}; flow runs of the run: {seen}") from None


def current_attempt(store: Store, run_id: str) -> str:
    def noted():
        with store.read() as r:
            return (r.run_head(run_id) or {}).get("prefect_flow_run")

    return wait_for(noted, 30, interval=0.2, what="the attempt's flow run noted in the store")


def cancel_in_prefect(flow_run_id: str, message: str | None = None) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelling

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(uuid.UUID(flow_run_id), Cancelling(message=message))


def test_a_failing_http_step_ends_the_flow_run_failed_naming_the_step_and_its_line(running, tmp_path):
    store, engine, _ = running
    runbook = tmp_path / "broken.yaml"
    runbook.write_text(BROKEN)
    run = engine.start(runbook, "lab", local_operator())["id"]
    engine.complete(run, "note", local_operator())
    wait_for(lambda: engine.run(run)["state"] == "failed", 60, what="run failed")
    failed = attempt_in(run, "FAILED", "the attempt's flow run Failed")
    assert failed.state.message.startswith('step "grant" (broken.yaml:7) failed: POST ***/fail500 returned 500')
    assert not [f for f in flow_runs(run) if f.state.type.value == "COMPLETED"]


def test_a_cancelled_run_ends_its_flow_run_cancelled_with_the_reason(running, tmp_path):
    store, engine, _ = running
    runbook = tmp_path / "waiting.yaml"
    runbook.write_text(WAITING)
    run = engine.start(runbook, "lab", local_operator())["id"]
    current_attempt(store, run)
    engine.cancel(run, local_operator(), reason="the drill is over")
    cancelled = attempt_in(run, "CANCELLED", "the attempt's flow run Cancelled")
    assert cancelled.state.message == "the run was cancelled: the drill is over"


def test_cancelling_the_flow_run_in_prefect_cancels_the_run_audited_as_prefect(running, tmp_path):
    store, engine, _ = running
    runbook = tmp_path / "waiting.yaml"
    runbook.write_text(WAITING)
    run = engine.start(runbook, "lab", local_operator())["id"]
    flow_run_id = current_attempt(store, run)
    cancel_in_prefect(flow_run_id)
    wait_for(lambda: engine.run(run)["state"] == "cancelled", 15, what="run cancelled from Prefect")
    entry = next(e for e in engine.audit(run)["entries"] if e["action"] == "run.cancel")
    assert entry["actor"] == f"prefect:{flow_run_id}"
    assert entry["reason"] == "cancelled from Prefect"
    assert [t["state"] for t in engine.tasks(run, step="confirm")] == ["cancelled"]
    final = attempt_in(run, "CANCELLED", "the flow run Cancelled")
    assert str(final.id) == flow_run_id
    assert final.state.message == "the run was cancelled: cancelled from Prefect"


def test_with_prefect_control_off_a_cancel_from_prefect_is_put_back(running, tmp_path, monkeypatch):
    store, engine, _ = running
    monkeypatch.setenv("RUNBOOK_PREFECT_CONTROL", "off")
    runbook = tmp_path / "waiting.yaml"
    runbook.write_text(WAITING)
    run = engine.start(runbook, "lab", local_operator())["id"]
    flow_run_id = current_attempt(store, run)
    cancel_in_prefect(flow_run_id, "stop it")

    def put_back():
        return next((f for f in flow_runs(run) if "not cancelled" in (f.state.message or "")), None)

    back = wait_for(put_back, 15, interval=0.5, what="the flow run put back with a message")
    assert back.state.type.value == "RUNNING"
    assert str(back.id) == flow_run_id
    assert back.state.message.startswith("not cancelled: RUNBOOK_PREFECT_CONTROL=off")
    assert engine.run(run)["state"] == "running"
    assert "run.cancel" not in [e["action"] for e in engine.audit(run)["entries"]]


def test_an_attempt_interrupted_while_the_run_waits_ends_crashed(control_env, tmp_path):
    store = Store()
    engine = Engine(store)
    runbook = tmp_path / "waiting.yaml"
    runbook.write_text(WAITING)
    run = engine.start(runbook, "lab", local_operator())["id"]
    runner = Runner(store).start()
    try:
        current_attempt(store, run)
    finally:
        runner.stop()
    crashed = attempt_in(run, "CRASHED", "the interrupted attempt Crashed")
    assert "the run is still running" in crashed.state.message
    assert engine.run(run)["state"] == "running"
    store.dispose()


@pytest.fixture
def deployed(control_env):
    """The execute-run deployment on the session's Prefect server, in a pool of this test's own."""
    from flows.deploy import register_deployments

    register_deployments(f"control-{uuid.uuid4().hex[:6]}")


def execute_attempt(flow_run_id):
    """Run a deployed attempt in this process, as a worker does."""
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow

    from flows.deploy import execute_run

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(flow_run_id)
    return run_flow(execute_run, flow_run=flow_run, parameters=flow_run.parameters, return_type="state")


def retry_in_prefect(flow_run_id) -> None:
    """What Prefect's UI does on Retry: the failed flow run is scheduled again."""
    from prefect.client.orchestration import get_client
    from prefect.states import AwaitingRetry

    with get_client(sync_client=True) as client:
        result = client.set_flow_run_state(flow_run_id, AwaitingRetry())
    assert result.status.value == "ACCEPT", result.details


def failed_attempt(engine, runbook, recorder):
    from prefect.deployments import run_deployment

    from flows.deploy import EXECUTE_DEPLOYMENT

    run = engine.start(runbook, "lab", local_operator())["id"]
    engine.complete(run, "note", local_operator())
    attempt = run_deployment(EXECUTE_DEPLOYMENT, parameters={"run_id": run}, timeout=0, tags=[f"run:{run}"])
    state = execute_attempt(attempt.id)
    assert state.type.value == "FAILED" and 'step "grant"' in state.message
    assert engine.run(run)["state"] == "failed"
    return run, attempt.id


def test_retrying_a_failed_flow_run_in_prefect_retries_the_failed_item(deployed, recorder, tmp_path, monkeypatch):
    monkeypatch.setenv("RUNBOOK_PREFECT_CONTROL", "all")
    runbook = tmp_path / "broken.yaml"
    runbook.write_text(BROKEN)
    store = Store()
    engine = Engine(store)
    run, attempt = failed_attempt(engine, runbook, recorder)
    retry_in_prefect(attempt)
    state = execute_attempt(attempt)
    assert state.type.value == "FAILED"  # the IAM still answers 500: failed again, after a real retry
    assert [r["key"] for r in recorder.requests] == [f"{run}:grant:0", f"{run}:grant:1"]
    retried = [e for e in engine.audit(run)["entries"] if e["action"] == "task.retry"]
    assert [(e["actor"], e["reason"]) for e in retried] == [(f"prefect:{attempt}", "retried from Prefect")]
    store.dispose()


def test_a_retry_from_prefect_under_the_default_setting_is_put_back_failed(deployed, recorder, tmp_path):
    runbook = tmp_path / "broken.yaml"
    runbook.write_text(BROKEN)
    store = Store()
    engine = Engine(store)
    run, attempt = failed_attempt(engine, runbook, recorder)
    retry_in_prefect(attempt)
    state = execute_attempt(attempt)
    assert state.type.value == "FAILED"
    assert state.message.startswith("not retried: RUNBOOK_PREFECT_CONTROL=cancel")
    assert engine.run(run)["state"] == "failed"
    assert len(recorder.requests) == 1
    store.dispose()
