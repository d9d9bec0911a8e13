"""A local HTTP server that records every request (method, path, Idempotency-Key, JSON body)
and answers by path: the real thing our http steps and webhooks talk to in tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[str, str, Any], tuple[int, dict[str, str], bytes]]


def default_responder(method: str, path: str, body: Any) -> tuple[int, dict[str, str], bytes]:
    if path.startswith("/fail500"):
        return 500, {"Content-Type": "application/json"}, b'{"error": "down"}'
    if path.startswith("/html"):
        return 200, {"Content-Type": "text/html"}, b"<html><body>Login</body></html>"
    if path.startswith("/redirect-private"):
        return 302, {"Location": "http://169.254.169.254/latest/meta-data"}, b""
    if path.startswith("/replication"):
        return 200, {"Content-Type": "application/json"}, b'{"lag_seconds": 3}'
    return (
        201 if method == "POST" else 200,
        {"Content-Type": "application/json"},
        json.dumps({"ok": True, "path": path}).encode(),
    )


class Recorder:
    def __init__(self, responder: Responder = default_responder, port: int = 0):
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                with recorder.lock:
                    recorder.requests.append(
                        {
                            "at": datetime.now(UTC),
                            "method": self.command,
                            "path": self.path,
                            "body": body,
                            "raw": raw,
                            "key": self.headers.get("Idempotency-Key"),
                            "headers": dict(self.headers),
                        }
                    )
                status, headers, payload = responder(self.command, self.path, body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Recorder:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def paths(self) -> list[str]:
        with self.lock:
            return [r["path"] for r in self.requests]
