"""http step: a rendered request → `{status, json}`, through `requests`, with the outbound
allowlist checked for the URL and every redirect, a stable Idempotency-Key, expected statuses,
a timeout, and at most RUNBOOK_HTTP_PER_HOST calls at once per host. In a drill the request is
recorded, not sent, unless the step says `drill: send`."""

from __future__ import annotations

import json
import os
import threading
from typing import Any
from urllib.parse import urlparse

import requests

from notifications.outbound import OutboundRefused, allow_list, check_url, pinned_session
from runbooks.models import parse_duration

from .base import StepError, StepJob, mask_value

MAX_REDIRECTS = 5
_slots: dict[str, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlparse(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _host_slot(url: str) -> threading.BoundedSemaphore:
    """At most RUNBOOK_HTTP_PER_HOST (default 4) calls at once to one host:port, so the set-up
    calls of 48 home agents do not all hit the IAM service in the same instant."""
    scheme, host, port = _origin(url)
    key = f"{host}:{port or (443 if scheme == 'https' else 80)}"
    with _slots_lock:
        if key not in _slots:
            _slots[key] = threading.BoundedSemaphore(max(1, int(os.environ.get("RUNBOOK_HTTP_PER_HOST", "4"))))
        return _slots[key]


def execute(job: StepJob) -> dict[str, Any]:
    request = job.params["with"]
    method = request.get("method", "GET")
    url = str(request["url"])
    headers = {str(k): str(v) for k, v in (request.get("headers") or {}).items()}
    headers["Idempotency-Key"] = job.idempotency_key
    body = request.get("json")
    expect = request.get("expect")
    timeout = parse_duration(request.get("timeout") or "30s")
    if job.drill and not job.send_in_drill:
        return {
            "status": None,
            "json": None,
            "drill": True,
            "recorded": {"method": method, "url": job.mask(url), "json": mask_value(body, job.secrets)},
        }
    allowed = allow_list(
        c.get("url", "") for c in job.site.get("channels", {}).values() if "${{" not in c.get("url", "")
    )
    with _host_slot(url):
        response, method, url = _send(job, method, url, headers, body, timeout, allowed)
    ok = response.status_code in expect if expect else 200 <= response.status_code < 300
    if not ok:
        wanted = ", ".join(map(str, expect)) if expect else "2xx"
        retryable = response.status_code >= 500 or response.status_code in (408, 425, 429)
        raise StepError(
            f"{method} {job.mask(url)} returned {response.status_code} (expected {wanted})", retryable=retryable
        )
    text = response.text
    if not text.strip():
        return {"status": response.status_code, "json": None}
    try:
        return {"status": response.status_code, "json": json.loads(text)}
    except ValueError:
        kind = response.headers.get("content-type", "unknown type")
        snippet = " ".join(text[:80].split())
        raise StepError(
            f"{method} {job.mask(url)} returned {response.status_code} with a body that is not JSON "
            f"({kind}): {job.mask(snippet)!r}",
            retryable=False,
        ) from None


def _send(
    job: StepJob, method: str, url: str, headers: dict[str, str], body: Any, timeout: int, allowed: frozenset[str]
) -> tuple[requests.Response, str, str]:
    """Send, following redirects by hand: each hop is checked as the URL it will be sent to,
    and credentials stay with the origin they were written for."""
    origin = _origin(url)
    _session = pinned_session(allowed)  # each hop's address is checked when it connects
    for _ in range(MAX_REDIRECTS + 1):
        prepared = _session.prepare_request(requests.Request(method, url, headers=headers, json=body))
        try:
            check_url(prepared.url or "", allowed)
        except OutboundRefused as e:
            raise StepError(job.mask(str(e)), retryable=False) from None
        try:
            response = _session.send(prepared, timeout=timeout, allow_redirects=False)
        except OutboundRefused as e:
            raise StepError(job.mask(str(e)), retryable=False) from None
        except requests.Timeout:
            raise StepError(f"{method} {job.mask(url)} timed out after {timeout}s") from None
        except requests.RequestException as e:
            raise StepError(f"{method} {job.mask(url)} failed: {type(e).__name__}") from None
        if not (response.is_redirect and "location" in response.headers):
            return response, method, url
        url = requests.compat.urljoin(url, response.headers["location"])
        if response.status_code in (301, 302, 303) and method != "HEAD":
            method, body = "GET", None
        if _origin(url) != origin:
            headers = {"Idempotency-Key": job.idempotency_key}
    raise StepError(f"{method} {job.mask(url)}: more than {MAX_REDIRECTS} redirects", retryable=False)
