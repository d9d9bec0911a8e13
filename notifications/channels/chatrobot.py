"""What the three Chinese chat robots (WeCom, DingTalk, Feishu) share: they answer HTTP 200
with an error code in the body, some codes mean "too many messages, try later", and two of
them sign requests with HMAC-SHA256 of `<timestamp>\n<secret>`."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterable

import requests

from .base import SENT, Outcome, dead, retry


def answer_checker(
    code_keys: Iterable[str], rate_limited: frozenset[int], explain: dict[int, str] | None = None
) -> Callable[[requests.Response], Outcome]:
    """An answer → sent, retried (throttled: the destination waits a minute) or dead (the
    robot's code and, for known codes, what to do)."""
    keys = tuple(code_keys)
    explain = explain or {}

    def check(response: requests.Response) -> Outcome:
        try:
            data = response.json()
        except ValueError:
            return SENT  # a 2xx without a JSON body: the robot took it
        code = next((data[k] for k in keys if isinstance(data, dict) and k in data), 0)
        if not code:
            return SENT
        if code in rate_limited:
            return retry(f"robot answered code {code} (rate limited)", 60.0)
        return dead(f"robot answered code {code}" + (f": {explain[code]}" if code in explain else ""))

    return check


def signature(timestamp: int, secret: str, *, key_is_secret: bool) -> str:
    """Base64 HMAC-SHA256 of `<timestamp>\n<secret>`: DingTalk keys it with the secret and
    signs that string; Feishu keys it with that string and signs nothing."""
    text = f"{timestamp}\n{secret}".encode()
    mac = hmac.new(secret.encode(), text, hashlib.sha256) if key_is_secret else hmac.new(text, b"", hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()
