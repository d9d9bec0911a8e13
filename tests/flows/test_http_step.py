"""http step against a real local server: the request, the Idempotency-Key, the allowlist (and
redirects), failures that say what happened, drills that record instead of sending."""

from __future__ import annotations

import pytest

from flows.steps import StepError, StepJob
from flows.steps.http import execute


def job(url: str, *, method: str = "POST", expect=None, drill=False, send=False, secrets=()) -> StepJob:
    return StepJob(
        run_id="r1",
        task_id="setup:E1",
        step_id="setup",
        kind="http",
        item_key="E1",
        params={
            "with": {
                "method": method,
                "url": url,
                "json": {"user": "E1"},
                "expect": expect,
                "headers": {"X-Trace": "t"},
                "timeout": "5s",
            }
        },
        idempotency_key="r1:setup:E1:0",
        drill=drill,
        send_in_drill=send,
        site={"channels": {}},
        home=__import__("pathlib").Path("/tmp"),
        secrets=tuple(secrets),
    )


@pytest.fixture
def allowed(recorder, monkeypatch):
    monkeypatch.setenv("RUNBOOK_OUTBOUND_ALLOW", f"127.0.0.1:{recorder.port}")
    return recorder


def test_a_call_sends_json_with_the_idempotency_key_and_returns_status_and_json(allowed):
    assert execute(job(f"{allowed.url}/grants", expect=[200, 201])) == {
        "status": 201,
        "json": {"ok": True, "path": "/grants"},
    }
    request = allowed.requests[0]
    assert (request["method"], request["body"], request["key"]) == ("POST", {"user": "E1"}, "r1:setup:E1:0")
    assert request["headers"]["X-Trace"] == "t"


def test_a_host_that_is_not_allowed_is_refused_naming_the_host_and_the_setting(recorder, monkeypatch):
    monkeypatch.delenv("RUNBOOK_OUTBOUND_ALLOW", raising=False)
    with pytest.raises(StepError) as exc:
        execute(job(f"{recorder.url}/grants"))
    assert not exc.value.retryable
    assert f"127.0.0.1:{recorder.port} is a loopback address" in exc.value.message
    assert "RUNBOOK_OUTBOUND_ALLOW" in exc.value.message
    assert recorder.requests == []


def test_a_redirect_to_a_private_address_is_refused(allowed):
    with pytest.raises(StepError, match=r"169\.254\.169\.254:80 is a link-local address"):
        execute(job(f"{allowed.url}/redirect-private", method="GET"))
    assert allowed.paths() == ["/redirect-private"]


def test_a_server_error_is_retryable_and_says_what_came_back(allowed):
    with pytest.raises(StepError) as exc:
        execute(job(f"{allowed.url}/fail500"))
    assert exc.value.retryable and "returned 500 (expected 2xx)" in exc.value.message


def test_a_body_that_is_not_json_fails_with_what_it_was(allowed):
    with pytest.raises(StepError) as exc:
        execute(job(f"{allowed.url}/html", method="GET"))
    assert not exc.value.retryable
    assert "not JSON (text/html): '<html><body>Login</body></html>'" in exc.value.message


def test_secrets_from_env_are_masked_in_messages(allowed):
    with pytest.raises(StepError) as exc:
        execute(job(f"{allowed.url}/fail500?token=s3cr3t-token", secrets=["s3cr3t-token"]))
    assert "s3cr3t-token" not in exc.value.message and "token=***" in exc.value.message


def test_a_drill_records_the_request_instead_of_sending_it(allowed):
    out = execute(job(f"{allowed.url}/grants", drill=True))
    assert out["drill"] is True and out["recorded"]["url"].endswith("/grants")
    assert allowed.requests == []
    execute(job(f"{allowed.url}/grants", drill=True, send=True))
    assert allowed.paths() == ["/grants"]


def test_a_redirect_that_parsers_read_differently_does_not_reach_a_host_not_allowed(recorder, monkeypatch):
    from tests.support.recorder import Recorder

    hidden = recorder  # not allowed: it must receive nothing

    def tricky(method, path, body):
        return 302, {"Location": f"http://127.0.0.1:{hidden.port}\\@127.0.0.1:{front.port}/"}, b""

    with Recorder(tricky) as front:
        monkeypatch.setenv("RUNBOOK_OUTBOUND_ALLOW", f"127.0.0.1:{front.port}")
        with pytest.raises(StepError) as exc:
            execute(
                job(
                    front.url + "/go",
                    method="GET",
                )
            )
    assert not exc.value.retryable
    assert hidden.requests == [] and front.paths() == ["/go"]


def test_credentials_are_not_sent_to_another_origin_on_redirect(recorder, monkeypatch):
    from tests.support.recorder import Recorder

    target = recorder

    def bounce(method, path, body):
        return 302, {"Location": f"{target.url}/landing"}, b""

    with Recorder(bounce) as first:
        monkeypatch.setenv("RUNBOOK_OUTBOUND_ALLOW", f"127.0.0.1:{first.port},127.0.0.1:{target.port}")
        j = job(f"{first.url}/start", method="GET")
        j = j.__class__(
            **{**j.__dict__, "params": {"with": {**j.params["with"], "headers": {"Authorization": "Bearer tok-123"}}}}
        )
        assert execute(j)["status"] == 200
        assert first.requests[0]["headers"]["Authorization"] == "Bearer tok-123"
    landing = target.requests[0]
    assert "Authorization" not in landing["headers"] and landing["key"] == "r1:setup:E1:0"


def test_a_drill_masks_secrets_in_the_recorded_body(allowed):
    j = job(f"{allowed.url}/grants", drill=True, secrets=["k3y-s3cret"])
    j = j.__class__(**{**j.__dict__, "params": {"with": {**j.params["with"], "json": {"key": "k3y-s3cret"}}}})
    assert execute(j)["recorded"]["json"] == {"key": "***"}


def test_calls_to_one_host_are_limited_to_the_per_host_bound(monkeypatch):
    import threading
    import time

    from flows.steps import http
    from tests.support.recorder import Recorder

    lock = threading.Lock()
    state = {"now": 0, "most": 0}

    def slow(method, path, body):
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
        time.sleep(0.2)  # holds the call open so that overlapping calls would show
        with lock:
            state["now"] -= 1
        return 200, {"Content-Type": "application/json"}, b"{}"

    monkeypatch.setenv("RUNBOOK_HTTP_PER_HOST", "2")
    monkeypatch.setattr(http, "_slots", {})
    with Recorder(slow) as server:
        monkeypatch.setenv("RUNBOOK_OUTBOUND_ALLOW", f"127.0.0.1:{server.port}")
        threads = [threading.Thread(target=execute, args=(job(f"{server.url}/x{i}", method="GET"),)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(server.requests) == 8
    assert state["most"] == 2


def test_an_allowed_name_that_resolves_to_loopback_is_refused_at_connect_time(recorder, monkeypatch):
    # "localhost" is allowed by name, but it resolves to 127.0.0.1: the address is checked when
    # the connection is made, and nothing reaches the listener.
    monkeypatch.setenv("RUNBOOK_OUTBOUND_ALLOW", f"localhost:{recorder.port}")
    with pytest.raises(StepError, match=r"resolves to .*a loopback address"):
        execute(job(f"http://localhost:{recorder.port}/grants"))
    assert recorder.requests == []


def test_an_allowed_address_is_connected_to_with_the_host_header_kept(recorder, monkeypatch):
    monkeypatch.setenv("RUNBOOK_OUTBOUND_ALLOW", f"127.0.0.1:{recorder.port}")
    result = execute(job(f"{recorder.url}/grants"))
    assert result["status"] == 201
    assert recorder.requests[0]["headers"]["Host"] == f"127.0.0.1:{recorder.port}"


def test_an_address_is_checked_for_every_address_a_name_resolves_to(monkeypatch):
    from notifications.outbound import OutboundRefused, checked_address

    monkeypatch.setattr(
        "socket.getaddrinfo",
        lambda *a, **k: [(2, 1, 6, "", ("93.184.216.34", 443)), (2, 1, 6, "", ("169.254.169.254", 443))],
    )
    with pytest.raises(OutboundRefused, match="169.254.169.254, a link-local address"):
        checked_address("iam.example", 443, frozenset({"iam.example"}))
