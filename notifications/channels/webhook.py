"""Generic JSON webhook: the body of docs/language.md#notifications (`id` is the dedup key, also sent as the
Idempotency-Key header); with `secret:`, an HMAC-SHA256 signature header over the timestamp
and the exact body bytes: `X-Runbook-Signature: t=<unix seconds>,v1=<hex>` where the MAC is of
`<t>.<body>`, so a receiver can check both the sender and the age."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import requests

from .base import Outcome, Outgoing, post_json


def reaches(person: Mapping[str, Any]) -> str | None:
    return person.get("id")  # the receiving system gets the staff id in `recipient`


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def send(
    config: Mapping[str, Any], messages: Sequence[Outgoing], http: requests.Session, allowed: frozenset[str]
) -> Iterator[Outcome]:
    for m in messages:
        raw = json.dumps(m.body(), ensure_ascii=False, separators=(",", ":")).encode()
        headers = {
            **config.get("headers", {}),
            "Content-Type": "application/json; charset=utf-8",
            "Idempotency-Key": m.key,
            "X-Runbook-Event": m.event,
        }
        if config.get("secret"):
            headers["X-Runbook-Signature"] = signature(config["secret"], int(time.time()), raw)
        yield post_json(http, config["url"], None, allowed=allowed, headers=headers, data=raw)
