"""The scale-out commands' edges: `runbook deploy` and `runbook worker` refuse to start without
the cluster's Prefect API (exit 2, what to set), a bad --source is named; a worker's /metrics
answers on loopback with the store's counts."""

from __future__ import annotations

import requests
from typer.testing import CliRunner

from console.cli import app
from console.scale import _serve_metrics
from flows.actors import local_operator
from flows.lifecycle import Engine
from flows.store import Store
from tests.support.processes import free_port

runner = CliRunner()


def test_deploy_and_worker_need_the_prefect_api(lab_env, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    for command in ("deploy", "worker"):
        result = runner.invoke(app, [command])
        assert result.exit_code == 2
        assert f"runbook {command} needs PREFECT_API_URL" in result.output


def test_deploy_names_a_source_that_is_not_a_directory(lab_env, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    result = runner.invoke(app, ["deploy", "--source", str(lab_env / "nowhere")])
    assert result.exit_code == 2 and "nowhere: not a directory" in result.output


def test_a_workers_metrics_answer_on_loopback(lab_env):
    store = Store()
    Engine(store).start("human_response", "lab", local_operator())
    port = free_port()
    server = _serve_metrics(store, port)
    try:
        r = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert r.status_code == 200 and 'runbook_runs{state="running"} 1' in r.text
        assert requests.get(f"http://127.0.0.1:{port}/other", timeout=10).status_code == 404
    finally:
        server.shutdown()
        server.server_close()
        store.dispose()
