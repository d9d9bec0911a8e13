"""The IAM stand-in of `runbook demo` (and of the tests): a local HTTP service that grants,
revokes and verifies restricted permissions as a bank's IAM would. `POST /grants` → 201
`{grant_id, user, profile, scope, active: true}`; `DELETE /grants/<id>` → 204 (404 when it does
not know it); `GET /grants/<id>` → 200 with the grant while it is active, 404 after. The same
Idempotency-Key gets the same grant back. `fail_revokes` makes the next N revocations answer 503
(an IAM that is down for a while)."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any


class IamStandIn:
    def __init__(self, port: int = 0):
        self.grants: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []  # (method, path), in order
        self.fail_revokes = 0
        self.lock = threading.Lock()
        iam = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, status: int, body: Any = None) -> None:
                payload = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                if payload:
                    self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    return self._answer(400, {"error": "not JSON"})
                self._answer(*iam.grant(self.path, body if isinstance(body, dict) else {}, self.headers))

            def do_DELETE(self) -> None:  # noqa: N802
                self._answer(*iam.revoke(self.path))

            def do_GET(self) -> None:  # noqa: N802
                self._answer(*iam.lookup(self.path))

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="iam-stand-in", daemon=True)

    def __enter__(self) -> IamStandIn:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> IamStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def active(self) -> list[dict[str, Any]]:
        with self.lock:
            return [g for g in self.grants.values() if g["active"]]

    # --- the service --------------------------------------------------------------------------

    def grant(self, path: str, body: dict[str, Any], headers: Any) -> tuple[int, Any]:
        if path.rstrip("/") != "/grants":
            return 404, {"error": "not found"}
        key = str(headers.get("Idempotency-Key") or "")
        with self.lock:
            self.calls.append(("POST", path))
            if key and key in self.by_key:
                return 201, self.grants[self.by_key[key]]
            gid = f"g{len(self.grants) + 1:05d}"
            self.grants[gid] = {
                "grant_id": gid,
                "user": body.get("user"),
                "profile": body.get("profile"),
                "scope": body.get("scope") or [],
                "asset": body.get("asset"),
                "active": True,
            }
            if key:
                self.by_key[key] = gid
            return 201, self.grants[gid]

    def revoke(self, path: str) -> tuple[int, Any]:
        gid = path.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
        with self.lock:
            self.calls.append(("DELETE", path))
            if self.fail_revokes > 0:
                self.fail_revokes -= 1
                return 503, {"error": "IAM unavailable"}
            found = self.grants.get(gid)
            if found is None:
                return 404, {"error": "no such grant"}
            found["active"] = False
            return 204, None

    def lookup(self, path: str) -> tuple[int, Any]:
        gid = path.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
        with self.lock:
            self.calls.append(("GET", path))
            found = self.grants.get(gid)
            if found is None or not found["active"]:
                return 404, {"error": "no such grant"}
            return 200, found
