"""http step: a rendered request → `{status, json}`, through `requests`, with the outbound
allowlist checked for the URL and every redirect, a stable Idempotency-Key, expected statuses
and a timeout. In a drill the request is recorded, not sent, unless the step says `drill: send`."""
from __future__ import annotations

import json
from typing import Any

import requests

from runbooks.models import parse_duration

from ..outbound import OutboundRefused, allow_list, check_url
from . import StepError, StepJob, mask_value

MAX_REDIRECTS = 5
_session = requests.Session()


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = requests.utils.urlparse(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


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
        return {"status": None, "json": None, "drill": True,
                "recorded": {"method": method, "url": job.mask(url), "json": mask_value(body, job.secrets)}}
    allowed = allow_list(c.get("url", "") for c in job.site.get("channels", {}).values() if "${{" not in c.get("url", ""))
    origin = _origin(url)
    for _ in range(MAX_REDIRECTS + 1):
        prepared = _session.prepare_request(requests.Request(method, url, headers=headers, json=body))
        try:
            check_url(prepared.url or "", allowed)  # the URL as it will be sent
        except OutboundRefused as e:
            raise StepError(job.mask(str(e)), retryable=False) from None
        try:
            response = _session.send(prepared, timeout=timeout, allow_redirects=False)
        except requests.Timeout:
            raise StepError(f"{method} {job.mask(url)} timed out after {timeout}s") from None
        except requests.RequestException as e:
            raise StepError(f"{method} {job.mask(url)} failed: {type(e).__name__}") from None
        if response.is_redirect and "location" in response.headers:
            url = requests.compat.urljoin(url, response.headers["location"])
            if response.status_code in (301, 302, 303):
                method, body = ("GET", None) if method != "HEAD" else (method, body)
            if _origin(url) != origin:  # credentials stay with the origin they were written for
                headers = {"Idempotency-Key": job.idempotency_key}
            continue
        break
    else:
        raise StepError(f"{method} {job.mask(url)}: more than {MAX_REDIRECTS} redirects", retryable=False)
    ok = response.status_code in expect if expect else 200 <= response.status_code < 300
    if not ok:
        wanted = ", ".join(map(str, expect)) if expect else "2xx"
        retryable = response.status_code >= 500 or response.status_code in (408, 425, 429)
        raise StepError(f"{method} {job.mask(url)} returned {response.status_code} (expected {wanted})",
                        retryable=retryable)
    text = response.text
    if not text.strip():
        return {"status": response.status_code, "json": None}
    try:
        return {"status": response.status_code, "json": json.loads(text)}
    except ValueError:
        kind = response.headers.get("content-type", "unknown type")
        snippet = " ".join(text[:80].split())
        raise StepError(f"{method} {job.mask(url)} returned {response.status_code} with a body that is not JSON "
                        f"({kind}): {job.mask(snippet)!r}", retryable=False) from None
