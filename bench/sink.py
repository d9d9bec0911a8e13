"""A local HTTP/1.1 sink for the notification benchmarks: keep-alive, answers 200 with a small
JSON body written in one piece (a response split in two writes waits 40 ms on delayed ACK),
and keeps every request body for the benchmark to check."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 65536
    disable_nagle_algorithm = True
    bodies: list[bytes] = []
    answer = b"{}"

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        Sink.bodies.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.answer)))
        self.end_headers()
        self.wfile.write(self.answer)

    def log_message(self, *args) -> None:
        pass


def start(path: str = "") -> tuple[ThreadingHTTPServer, str]:
    """The sink on a free local port → (server, URL)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}{path}"
