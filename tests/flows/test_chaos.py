"""Crash recovery: the runner process is SIGKILLed 20 times while a 210-step run goes on; the
run finishes, no completed step runs again, no acknowledged check-off is lost, every http call
carries its task's idempotency key, the audit chain verifies, and no Prefect server is left
behind by a killed `runbook serve`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import LAB
from tests.support.chaos import run_chaos
from tests.support.processes import Serve, free_port, wait_for


def test_twenty_kills_of_the_runner_lose_nothing_and_repeat_nothing(lab_env, recorder, prefect_api, monkeypatch):
    env = {
        "RUNBOOK_HOME": str(lab_env / "home"),
        "PREFECT_API_URL": prefect_api,
        "RUNBOOK_LIBRARY": str(LAB / "library"),
        "RUNBOOK_SITES": str(LAB / "sites"),
        "RUNBOOK_OUTBOUND_ALLOW": f"127.0.0.1:{recorder.port}",
        "IAM_URL": recorder.url,
        "RUNBOOK_LEASE_TTL": "2",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    report = run_chaos(kills=20, groups=70, env=env, home=lab_env, recorder=recorder)
    assert report["state"] == "completed", report
    assert report["kills"] == 20, "every kill landed while the run was going on"
    assert report["lease_attempts"] >= 21, report  # every killed serve owned the run when it died
    assert report["runners_that_worked"] >= 2, report  # and the work moved from runner to runner
    assert report["steps"] >= 200 and report["not_done"] == []
    assert report["executed_after_completion"] == [], "a completed step ran again"
    assert report["completed_twice"] == []
    assert report["lost_checkoffs"] == [] and report["acknowledged"] == 70
    assert report["wrong_keys"] == [], "a retried call must carry the same Idempotency-Key"
    assert report["notify_missing"] == []
    assert report["audit_verified"]

    # Prefect mirrors it: one flow run per ownership attempt; the attempts of killed runners
    # were marked Crashed, and none is left Running (run_chaos waits for that, then reports).
    kinds = report["flow_run_states"]
    assert "CRASHED" in kinds and set(kinds) <= {"CRASHED", "COMPLETED"}, kinds


def _prefect_children(port: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"server" in cmd and b"start" in cmd and str(port).encode() in cmd:
                pids.append(int(entry.name))
    return pids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has exited; only its parent's reaping is left


@pytest.mark.prefect  # by hand: the Prefect server is started by serve, not by a fixture
def test_a_killed_serve_leaves_no_prefect_server_behind(lab_env, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # serve starts a Prefect server of its own
    port = free_port()
    env = {"RUNBOOK_HOME": str(lab_env / "home"), "RUNBOOK_PREFECT_PORT": str(port)}
    for end in ("stop", "kill"):  # SIGTERM: serve stops it; SIGKILL: the kernel tells it its parent died
        serve = Serve(env, lab_env / "serve.log").start(timeout=180)
        children = wait_for(lambda: _prefect_children(port), 30, what="the Prefect server child")
        getattr(serve, end)()
        wait_for(
            lambda pids=children: not any(_alive(pid) for pid in pids), 60, what=f"the Prefect server to exit ({end})"
        )
