"""Benchmark: what OpenID Connect sign-in costs (issue 24), the real app over a socket against the
test's OpenID provider (tests/support/oidc_provider.py) on another local socket:
- a request of a session signed in through the provider (between re-checks: one more store
  read, of its provider tokens) against a request of a token-form session of an app without
  OpenID Connect, on the same store: goal <= 1.5x (p50 of `GET /api/me`);
- a request that re-checks (the provider's refresh grant, an ID token checked, the rights
  written back) against the same plain request: no goal, shown so RUNBOOK_OIDC_RECHECK can be
  chosen;
- a whole sign-in (login → provider → callback → session) against the token form's `POST /login`:
  no goal.
Prints one JSON line per metric: {"bench", "metric", "ours", "baseline", "ratio", "goal", "met"}.

    python bench/bench_oidc.py [--requests 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
import uvicorn  # noqa: E402

from tests.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, ProviderServer  # noqa: E402
from tests.support.processes import free_port, wait_for  # noqa: E402

MAP = "groups_claim: groups\nstaff_id_claim: employee_id\ngroups:\n  bcm-managers: {role: manager}\n"


def p50_ms(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def line(metric: str, ours: float, baseline: float, goal: float | None) -> None:
    ratio = ours / baseline
    met = None if goal is None else ratio <= goal
    print(
        json.dumps(
            {
                "bench": "oidc",
                "metric": metric,
                "ours": round(ours, 2),
                "baseline": round(baseline, 2),
                "ratio": round(ratio, 2),
                "goal": goal,
                "met": met,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    n = parser.parse_args().requests
    home = Path(tempfile.mkdtemp(prefix="bench-oidc-"))
    with ProviderServer() as provider:
        provider.users["maria"] = {"sub": "u-1", "employee_id": "X0001", "groups": ["bcm-managers"]}
        provider.signed_in = "maria"
        (home / "map.yaml").write_text(MAP)
        os.environ.update(
            RUNBOOK_HOME=str(home / "home"),
            RUNBOOK_OIDC_ISSUER=provider.url,
            RUNBOOK_OIDC_CLIENT_ID=CLIENT_ID,
            RUNBOOK_OIDC_CLIENT_SECRET=CLIENT_SECRET,
            RUNBOOK_OIDC_MAP=str(home / "map.yaml"),
        )
        from console import auth
        from console.api import create_app
        from flows.store import Store

        store = Store()
        token = auth.add_account(store, "breakglass", "manager", by="bench")
        servers: list[tuple[uvicorn.Server, threading.Thread]] = []

        def serve(**env: str | None) -> str:
            """An app over a socket, made with these settings (read when it is made)."""
            for k, v in env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            port = free_port()
            server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning"))
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            wait_for(lambda: server.started, 30, what="uvicorn")
            servers.append((server, thread))
            return f"http://127.0.0.1:{port}"

        url = serve()
        url2 = serve(RUNBOOK_OIDC_RECHECK="0")  # re-checks at every request
        url_off = serve(RUNBOOK_OIDC_ISSUER=None)  # no OpenID Connect at all
        try:

            def oidc_sign_in() -> requests.Session:
                s = requests.Session()
                assert s.get(url + "/auth/oidc/login", timeout=30).status_code == 200
                return s

            def token_sign_in_at(base: str) -> requests.Session:
                s = requests.Session()
                assert s.post(base + "/login", json={"token": token}, timeout=30).status_code == 200
                return s

            plain, oidc = token_sign_in_at(url_off), oidc_sign_in()
            for s, base in ((plain, url_off), (oidc, url)):
                assert s.get(base + "/api/me", timeout=30).json()["role"] == "manager"
            base_ms = p50_ms(lambda: plain.get(url_off + "/api/me", timeout=30), n)
            ours = p50_ms(lambda: oidc.get(url + "/api/me", timeout=30), n)
            line("session request, OIDC session vs token-form session without OIDC (p50 ms)", ours, base_ms, 1.5)
            s2 = requests.Session()
            assert s2.get(url2 + "/auth/oidc/login", timeout=30).status_code == 200
            before = provider.refreshes
            recheck = p50_ms(lambda: s2.get(url2 + "/api/me", timeout=30), max(n // 4, 10))
            assert provider.refreshes - before >= max(n // 4, 10)
            line("request that re-checks at the provider vs a plain one (p50 ms)", recheck, base_ms, None)
            sign_in = p50_ms(oidc_sign_in, max(n // 4, 10))
            token_form = p50_ms(lambda: token_sign_in_at(url_off), max(n // 4, 10))
            line("sign-in through the provider vs the token form (p50 ms)", sign_in, token_form, None)
        finally:
            for server, thread in servers:
                server.should_exit = True
                thread.join(30)
            store.dispose()


if __name__ == "__main__":
    main()
