"""The runner: automated steps executed through Prefect under `runbook serve`, visible in
Prefect's API with the expected names; failures that say why, at the step's YAML line."""

from __future__ import annotations

import pytest

from flows.actors import local_operator
from flows.lifecycle import Engine
from flows.store import Store
from tests.conftest import LAB
from tests.support.processes import Serve, wait_for


@pytest.fixture
def serve_env(lab_env, recorder, prefect_api, monkeypatch):
    env = {
        "RUNBOOK_HOME": str(lab_env / "home"),
        "PREFECT_API_URL": prefect_api,
        "RUNBOOK_LIBRARY": str(LAB / "library"),
        "RUNBOOK_SITES": str(LAB / "sites"),
        "RUNBOOK_OUTBOUND_ALLOW": f"127.0.0.1:{recorder.port}",
        "DR_API_URL": recorder.url,
        "CHANGE_API_URL": recorder.url,
        "IAM_URL": recorder.url,
        "RUNBOOK_TIME_SCALE": "600",
        "RUNBOOK_LEASE_TTL": "3",
        "BEIJING_OPS_DINGTALK": recorder.url + "/dingtalk",
        "BEIJING_OPS_DINGTALK_SECRET": "SEC-test-only",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def states(engine, run):
    return {t["id"]: t["state"] for t in engine.tasks(run)}


def prefect_task_runs(flow_runs):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        return client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[f.id for f in flow_runs])))


def test_failover_runs_end_to_end_under_serve_and_shows_in_prefect(serve_env, recorder, lab_env):
    serve = Serve(serve_env, lab_env / "serve.log").start()
    store = Store()
    engine = Engine(store)
    try:
        operator = local_operator()
        run = engine.start("datacenter_failover", "beijing", operator)["id"]
        engine.approve(run, "go_no_go", operator)
        wait_for(lambda: states(engine, run).get("verify_systems:B0035") == "waiting", 60, what="switch done")
        site = engine.site_of(run)
        for task in engine.tasks(run, step="verify_systems"):
            engine.complete(
                run,
                task["id"],
                local_operator(task["item"], site),
                fields={"systems": "core banking", "healthy": "true"},
            )
        engine.approve(run, "all_clear", local_operator("B0044", site))
        engine.approve(run, "all_clear", operator)
        wait_for(lambda: engine.run(run)["state"] == "completed", 60, what="run completed")
        # The notify step is done once its message is queued; serve's dispatcher delivers it.
        announced = wait_for(
            lambda: [
                r
                for r in recorder.requests
                if r["path"].startswith("/dingtalk?")
                and any(w in r["body"]["text"]["content"] for w in ("all clear given", "警报已解除"))
            ],
            60,
            what="announcement",
        )
    finally:
        serve.stop()
    assert announced[0]["body"]["at"]["isAtAll"] is False and "&sign=" in announced[0]["path"], "signed"
    assert sorted(p for p in recorder.paths() if not p.startswith("/dingtalk?")) == [
        "/failover",
        "/freezes",
        "/replication/beijing",
    ]
    keys = {r["path"]: r["key"] for r in recorder.requests}
    assert keys["/failover"] == f"{run}:switch:0"
    assert engine.tasks(run, step="replication_lag")[0]["outputs"]["json"] == {"lag_seconds": 3}
    assert engine.audit(run)["verified"]

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterTags

    def prefect_view():
        with get_client(sync_client=True) as client:
            flow_runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"run:{run}"]))
            )
            if not flow_runs:
                return None
            task_runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[f.id for f in flow_runs]))
            )
            names = {t.name for t in task_runs}
            expected = {"freeze_changes", "replication_lag", "drain", "switch"}
            return (flow_runs, names) if expected <= names else None

    flow_runs, names = wait_for(prefect_view, 60, interval=1, what="flow and task runs in Prefect's API")
    assert {f.name for f in flow_runs} == {"datacenter_failover/beijing"}
    # Every task is a task run, human ones included (docs/deploy.md, replacing "human steps as
    # progress artifacts"): the verify_systems check-offs show as task runs, Completed.
    verify = wait_for(
        lambda: (lambda v: v if v and all(t.state.is_completed() for t in v) else None)(
            [t for t in prefect_task_runs(flow_runs) if t.name.startswith("verify_systems[")]
        ),
        30,
        what="human check-offs as Completed task runs",
    )
    assert {t.name for t in verify} == {
        f"verify_systems[{t['item']}]" for t in engine.tasks(run, step="verify_systems")
    }
    assert all("done by" in (t.state.message or "") for t in verify), "the check-off's author in the state message"
    store.dispose()


def test_a_server_error_that_never_recovers_fails_after_the_retries_with_the_yaml_line(
    serve_env, recorder, prefect_api, tmp_path
):
    from flows.runner import Runner

    runbook = tmp_path / "broken.yaml"
    runbook.write_text(
        "id: broken\nname: Broken\nsteps:\n"
        "  - id: grant\n    kind: http\n    retries: 2\n"
        '    with: {method: POST, url: "${{ env.IAM_URL }}/fail500"}\n'
        "  - id: after\n    kind: manual\n    needs: [grant]\n    owner: team:it\n"
    )
    store = Store()
    engine = Engine(store)
    runner = Runner(store).start()
    try:
        run = engine.start(runbook, "lab", local_operator())["id"]
        wait_for(lambda: engine.run(run)["state"] == "failed", 60, what="run failed")
        grant = engine.tasks(run, step="grant")[0]
        assert grant["state"] == "failed"
        assert grant["reason"] == (
            'step "grant" (broken.yaml:4) failed: POST ***/fail500 returned 500 (expected 2xx) after 3 attempts'
        )
        assert [r["key"] for r in recorder.requests] == [f"{run}:grant:0"] * 3
        assert states(engine, run)["after"] == "skipped"
        # A manager's retry reopens the run and tries again under a new Idempotency-Key.
        engine.retry(run, "grant", local_operator(), reason="IAM is back")
        assert engine.run(run)["state"] == "running" and states(engine, run)["after"] == "pending"
        wait_for(lambda: engine.run(run)["state"] == "failed", 60, what="run failed again")
    finally:
        runner.stop()
    assert [r["key"] for r in recorder.requests] == [f"{run}:grant:0"] * 3 + [f"{run}:grant:1"] * 3
    assert "run.reopen" in [e["action"] for e in engine.audit(run)["entries"]]
    store.dispose()


def test_run_executes_in_the_foreground_and_exits_when_the_run_completes(serve_env, tmp_path):
    import subprocess

    from tests.support.processes import RUNBOOK

    runbook = tmp_path / "auto.yaml"
    runbook.write_text(
        "id: auto\nname: Automated only\nsteps:\n"
        "  - {id: pause, kind: wait, for: 1m}\n"
        "  - {id: tell, kind: notify, needs: [pause], to: [channel:console], message: all done}\n"
    )
    result = subprocess.run(
        [RUNBOOK, "run", str(runbook), "--site", "lab"], capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr[-2000:]
    run_id = result.stdout.splitlines()[0]
    assert run_id.startswith("r") and "completed" in result.stdout
    assert "[channel:console] all done" in result.stdout


def test_a_check_off_wakes_the_runner_of_the_same_process(serve_env, recorder, tmp_path):
    from flows.runner import Runner

    runbook = tmp_path / "handoff.yaml"
    runbook.write_text(
        "id: handoff\nname: Hand-off\nsteps:\n"
        "  - {id: confirm, kind: manual, owner: team:it}\n"
        "  - id: grant\n    kind: http\n    needs: [confirm]\n"
        '    with: {method: POST, url: "${{ env.IAM_URL }}/grants"}\n'
    )
    store = Store()
    engine = Engine(store)
    runner = Runner(store).start()
    try:
        run = engine.start(runbook, "lab", local_operator())["id"]
        wait_for(lambda: run in runner.owned, 30, what="the runner to own the run")
        engine.complete(run, "confirm", local_operator())
        wait_for(lambda: engine.run(run)["state"] == "completed", 30, what="the http step after the check-off")
    finally:
        runner.stop()
    assert recorder.paths() == ["/grants"]
    store.dispose()


def test_serve_without_a_runner_answers_health_and_starts_no_prefect(serve_env, lab_env, monkeypatch):
    import requests

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    env = {k: v for k, v in serve_env.items() if k != "PREFECT_API_URL"}
    serve = Serve(env, lab_env / "serve.log", "--no-runner")
    serve.start()
    try:
        health = requests.get(f"http://127.0.0.1:{serve.port}/api/health", timeout=5).json()
    finally:
        serve.stop()
    assert health == {"status": "ok", "store": "sqlite", "runner": False, "runs_owned": 0, "prefect_api": None}
