"""DingTalk (钉钉) group robot: a `text` message, `isAtAll` always false (an `@all` typed in a
step name pings nobody); a person is mentioned by their DingTalk user id (`chat_id`). With
`secret:` (the robot's 加签 setting) each call carries `timestamp` (ms) and `sign` (base64
HMAC-SHA256 of `<timestamp>\n<secret>` keyed by the secret) in its query."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import requests

from .base import Outcome, Outgoing, post_json
from .chatrobot import answer_checker, signature

_check = answer_checker(
    ("errcode",),
    frozenset({130101}),
    {
        310000: "DingTalk refused the request: a wrong secret (sign), a keyword or an IP rule of the robot",
        300001: "DingTalk does not know this robot's access_token",
    },
)


def reaches(person: Mapping[str, Any]) -> str | None:
    return person.get("chat_id") or None


def body(m: Outgoing) -> dict[str, Any]:
    return {
        "msgtype": "text",
        "text": {"content": m.text},
        "at": {"atUserIds": [m.address] if m.address else [], "isAtAll": False},
    }


def send(
    config: Mapping[str, Any], messages: Sequence[Outgoing], http: requests.Session, allowed: frozenset[str]
) -> Iterator[Outcome]:
    for m in messages:
        params = None
        if config.get("secret"):
            timestamp = int(time.time() * 1000)
            params = {"timestamp": timestamp, "sign": signature(timestamp, config["secret"], key_is_secret=True)}
        yield post_json(http, config["url"], body(m), allowed=allowed, ok=_check, params=params)
