"""`runbook serve` owns its Prefect: without PREFECT_API_URL it starts a server of its own on a
free port and checks the API answering is that one (two serves on one machine, two Prefects);
a taken RUNBOOK_PREFECT_PORT is refused with a clear message; the public base URL is kept in
the store, so a message rendered by another process links to the served port."""

from __future__ import annotations

import os
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor

import requests

from flows.actors import local_operator
from flows.lifecycle import Engine
from flows.store import Store
from tests.conftest import LAB
from tests.support.processes import RUNBOOK, Serve, wait_for

ASSIGNED = "id: assigned\nname: Assigned\nsteps:\n  - id: check\n    kind: manual\n    owner: team:it\n"


def base_env(home) -> dict[str, str]:
    return {
        "RUNBOOK_HOME": str(home),
        "RUNBOOK_LIBRARY": str(LAB / "library"),
        "RUNBOOK_SITES": str(LAB / "sites"),
        "RUNBOOK_PUBLIC_URL": "",
        "RUNBOOK_PREFECT_PORT": "",
    }


def test_a_message_rendered_by_another_process_links_to_the_served_port(lab_env, prefect_api, monkeypatch, tmp_path):
    monkeypatch.delenv("RUNBOOK_PUBLIC_URL", raising=False)
    serve = Serve({**base_env(lab_env / "home"), "PREFECT_API_URL": prefect_api}, tmp_path / "serve.log").start()
    store = Store()
    try:
        runbook = tmp_path / "assigned.yaml"
        runbook.write_text(ASSIGNED)
        run = Engine(store).start(runbook, "lab", local_operator())["id"]  # rendered here, not in serve
        with store.read() as r:
            assigned = [m for m in r.outbox(run_id=run) if m["event"] == "task.assigned"]
        assert assigned
        assert {m["message"]["link"] for m in assigned} == {f"http://127.0.0.1:{serve.port}/runs/{run}/tasks/check"}
    finally:
        serve.stop()
        store.dispose()


def test_serve_refuses_a_taken_prefect_port_with_a_clear_message(lab_env, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**base_env(lab_env / "home"), "PREFECT_API_URL": "", "RUNBOOK_PREFECT_PORT": str(port)}
        done = subprocess.run(
            [RUNBOOK, "serve", "--port", "0"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2
    assert f"RUNBOOK_PREFECT_PORT={port}: port {port} on 127.0.0.1 is already in use" in done.stderr
    assert not (lab_env / "home" / "prefect-server.log").exists(), "no Prefect server was started"


def test_serve_refuses_an_unknown_prefect_control_setting(lab_env, tmp_path):
    env = {**base_env(lab_env / "home"), "PREFECT_API_URL": "", "RUNBOOK_PREFECT_CONTROL": "sometimes"}
    done = subprocess.run(
        [RUNBOOK, "serve", "--port", "0"], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2
    assert "RUNBOOK_PREFECT_CONTROL must be one of off, cancel, all, got 'sometimes'" in done.stderr


def tagged(api: str, run: str) -> list:
    body = {"flow_runs": {"tags": {"all_": [f"run:{run}"]}}, "limit": 10}
    return requests.post(f"{api}/flow_runs/filter", json=body, timeout=5).json()


def test_two_serves_on_one_machine_each_start_and_use_their_own_prefect(lab_env, tmp_path):
    runbook = tmp_path / "assigned.yaml"
    runbook.write_text(ASSIGNED)
    serves = [
        Serve({**base_env(tmp_path / name), "PREFECT_API_URL": ""}, tmp_path / f"{name}.log") for name in ("a", "b")
    ]
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda s: s.start(timeout=150), serves))
        apis = [requests.get(f"http://127.0.0.1:{s.port}/api/health", timeout=5).json()["prefect_api"] for s in serves]
        assert apis[0] != apis[1] and all(api.startswith("http://127.0.0.1:") for api in apis)
        for api, name in zip(apis, ("a", "b"), strict=True):
            home = requests.get(f"{api}/admin/settings", timeout=5).json()["home"]
            assert home == str(tmp_path / name / "prefect")
        # Each serve's runs show in its own Prefect only.
        runs = []
        for name in ("a", "b"):
            store = Store(f"sqlite:///{tmp_path / name / 'runbook.db'}")
            runs.append(Engine(store).start(runbook, "lab", local_operator())["id"])
            store.dispose()
        for api, run, other in zip(apis, runs, reversed(runs), strict=True):
            wait_for(lambda api=api, run=run: tagged(api, run), 60, interval=0.5, what=f"run {run}'s flow run")
            assert not tagged(api, other)
    finally:
        for s in serves:
            s.stop()
