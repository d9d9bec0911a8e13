"""Prefect API ownership: use the one at PREFECT_API_URL, or start a `prefect server` child
(UI included, state under `$RUNBOOK_HOME/prefect`) on a free port (or RUNBOOK_PREFECT_PORT,
refused if taken) and stop it on exit. The API that answers must be the child's own (its
PREFECT_HOME, its process alive): never another instance's, nor whatever else holds the port. The child is told by
the kernel to stop when its parent dies (PR_SET_PDEATHSIG), so even a SIGKILLed `runbook
serve` leaves no Prefect server behind."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from .errors import EngineError

# No telemetry (this machine has no network), and logs stay local: the store has the story,
# and shipping every log line to the API costs the Prefect server for nothing.
QUIET = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_TO_API_ENABLED": "false"}


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    os.setsid()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class PrefectUnavailable(EngineError):
    """This process could not get a Prefect API of its own; the message says why and what to do."""


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class PrefectServer:
    def __init__(self, home: Path, port: int, log_path: Path, env: dict[str, str] | None = None):
        """`env`: more settings for the server, e.g. PREFECT_API_DATABASE_CONNECTION_URL
        (postgresql+asyncpg://…) to keep Prefect's own state on PostgreSQL."""
        self.home, self.port, self.log_path, self.extra_env = home, port, log_path, dict(env or {})
        self.url = f"http://127.0.0.1:{port}/api"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 120) -> PrefectServer:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            **QUIET,
            **self.extra_env,
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_URL": self.url,
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
            "PREFECT_SERVER_API_PORT": str(self.port),
        }
        log = open(self.log_path, "ab")
        prefect = Path(sys.executable).with_name("prefect")
        command = [str(prefect)] if prefect.exists() else [sys.executable, "-m", "prefect"]
        self.process = subprocess.Popen(
            command + ["server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prefect server exited with {self.process.returncode}; see {self.log_path}")
            try:
                answered = requests.get(f"{self.url}/health", timeout=2).ok
            except requests.RequestException:
                answered = False
            if answered:
                why_not = self.not_ours()
                if why_not is None:
                    return self
                self.stop()
                raise PrefectUnavailable(
                    f"the Prefect API on port {self.port} is not the one this process started: {why_not}"
                )
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"prefect server did not answer within {timeout:.0f} s; see {self.log_path}")

    def not_ours(self) -> str | None:
        """None if the API answering on our port is our child's: alive, and with our PREFECT_HOME."""
        if self.process is None or self.process.poll() is not None:
            return f"our prefect server exited (see {self.log_path})"
        try:
            home = requests.get(f"{self.url}/admin/settings", timeout=5).json().get("home")
        except (requests.RequestException, ValueError, AttributeError) as e:
            return f"it does not say its settings ({type(e).__name__})"
        if not home or Path(home).resolve() != self.home.resolve():
            return f"its PREFECT_HOME is {home!r}, ours is {str(self.home)!r}"
        return None

    def stop(self, timeout: float = 20) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)
        except ProcessLookupError:
            pass


def ensure_prefect_api(home: Path) -> PrefectServer | None:
    """Point this process at a Prefect API; start one if none is configured (returned, to stop)."""
    for key, value in QUIET.items():
        os.environ.setdefault(key, value)
    if os.environ.get("PREFECT_API_URL"):
        return None
    wanted = os.environ.get("RUNBOOK_PREFECT_PORT", "").strip()
    if wanted:
        if not wanted.isdigit() or not 0 < int(wanted) < 65536:
            raise PrefectUnavailable(f"RUNBOOK_PREFECT_PORT must be a port number (1-65535), got {wanted!r}")
        port = int(wanted)
        if not port_free(port):
            raise PrefectUnavailable(
                f"RUNBOOK_PREFECT_PORT={port}: port {port} on 127.0.0.1 is already in use; free it, choose "
                "another port, unset RUNBOOK_PREFECT_PORT (a free port is chosen), or set PREFECT_API_URL "
                "to use a Prefect server that runs already"
            )
    else:
        port = free_port()
    server = PrefectServer(home / "prefect", port, home / "prefect-server.log").start()
    os.environ["PREFECT_API_URL"] = server.url
    return server
