"""Start `runbook serve` as a real process for tests (or an app in a thread), wait on conditions,
stop it cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests

RUNBOOK = str(Path(sys.executable).with_name("runbook"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], Any], timeout: float = 60, interval: float = 0.2, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@contextlib.contextmanager
def served_app(app: Any, **config: Any) -> Iterator[str]:
    """`app` served by uvicorn in a thread on a free loopback port, once it is up: its base URL;
    stopped and its thread joined after. `config`: more of `uvicorn.Config`'s settings."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, 30, what="uvicorn")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


class Serve:
    """`runbook serve` (or `demo`) in its own process group; `kill()` is a SIGKILL, `stop()` a SIGTERM."""

    def __init__(self, env: dict[str, str], log: Path, *extra: str, command: str = "serve"):
        self.env, self.log, self.extra, self.command = env, log, extra, command
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> Serve:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [RUNBOOK, self.command, "--port", str(self.port), *self.extra],
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        wait_for(self.healthy, timeout, what=f"runbook serve on port {self.port} (log: {self.log})")
        return self

    def healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise AssertionError(
                f"runbook serve exited with {self.process.returncode}; log: {self.log.read_text()[-3000:]}"
            )
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/api/health", timeout=2).ok
        except requests.RequestException:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(30)
