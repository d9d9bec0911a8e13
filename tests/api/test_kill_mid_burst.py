"""Durability of the group commit: `runbook serve` SIGKILLed in the middle of a burst of check-offs
by 16 leads over HTTP. Every check-off the server acknowledged (a 200) is done after the restart;
what was not acknowledged may or may not be, never half; the audit chain verifies. Real parts:
the server in its own process over a socket, the SQLite store with synchronous=FULL."""

from __future__ import annotations

import os
import subprocess
import threading

import requests

from tests.support.processes import RUNBOOK, Serve, wait_for

CLIENTS = 16


def _token(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([RUNBOOK, "users", "add", *args], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def test_every_acknowledged_check_off_survives_a_sigkill_of_the_server_mid_burst(lab_env):
    env = {**os.environ}
    lead = _token(env, "lead", "--role", "team_lead", "--team", "lab/it")
    manager = _token(env, "boss", "--role", "manager")
    serve = Serve({}, lab_env / "serve.log", "--no-runner").start()
    base = f"http://127.0.0.1:{serve.port}"
    try:
        run = requests.post(
            f"{base}/api/runs",
            json={"runbook": "many_items", "site": "lab"},
            headers={"Authorization": f"Bearer {manager}"},
            timeout=60,
        ).json()["id"]
        acknowledged: list[str] = []
        lock = threading.Lock()
        refused: list[str] = []
        stop = threading.Event()

        def client(c: int) -> None:
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {lead}"
            for i in range(c, 500, CLIENTS):
                if stop.is_set():
                    return
                task = f"item:{i}"
                try:
                    r = session.post(f"{base}/api/runs/{run}/tasks/{task}/complete", json={}, timeout=30)
                except requests.RequestException:
                    return  # the server is gone: this one was not acknowledged
                if r.status_code == 200:
                    with lock:
                        acknowledged.append(task)
                else:
                    with lock:
                        refused.append(f"{task}: {r.status_code} {r.text[:200]}")

        threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
        for t in threads:
            t.start()
        wait_for(lambda: len(acknowledged) >= 120, 120, 0.01, what="120 acknowledged check-offs")
        serve.kill()  # mid-burst: the other clients are still posting
        stop.set()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        assert refused == [], "a check-off of a waiting task by its team's lead is never refused"
        got = set(acknowledged)
        assert 120 <= len(got) < 500, "the kill landed mid-burst"

        serve.start()
        auth = {"Authorization": f"Bearer {manager}"}
        tasks = requests.get(f"{base}/api/runs/{run}/tasks", headers=auth, timeout=60).json()["tasks"]
        state = {t["id"]: t["state"] for t in tasks}
        lost = sorted(t for t in got if state[t] != "done")
        assert lost == [], f"acknowledged but not kept: {lost}"
        done = {t for t, s in state.items() if s == "done"}
        assert set(state.values()) <= {"done", "waiting"}
        audit = requests.get(f"{base}/api/runs/{run}/audit", headers=auth, timeout=60).json()
        assert audit["verified"]
        completed = [e["target"] for e in audit["entries"] if e["action"] == "task.complete"]
        assert sorted(completed) == sorted(done), "one audit row per kept check-off, none for the others"
        # the run goes on after the restart: the rest can be checked off
        rest = sorted(set(state) - done)[:3]
        for task in rest:
            r = requests.post(
                f"{base}/api/runs/{run}/tasks/{task}/complete",
                json={},
                headers={"Authorization": f"Bearer {lead}"},
                timeout=30,
            )
            assert r.status_code == 200, r.text
    finally:
        serve.stop()
