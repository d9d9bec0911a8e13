"""Feishu / Lark (飞书) group robot: a `text` message. Feishu reads `<at user_id=...>` tags in
text, so `<` from our text becomes a full-width `＜`; a person is mentioned by a tag we write.
With `secret:` (签名校验) the body carries `timestamp` (s) and `sign` (base64 HMAC-SHA256 keyed
by `<timestamp>\n<secret>`, of nothing)."""

from __future__ import annotations

import html
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import requests

from .base import Outcome, Outgoing, post_json
from .chatrobot import answer_checker, signature

_check = answer_checker(
    ("code", "StatusCode"),
    frozenset({9499, 11232}),
    {
        19021: "Feishu refused the signature: check the robot's secret (and the server clock)",
        19024: "Feishu refused the request: an IP or keyword rule of the robot",
    },
)


def reaches(person: Mapping[str, Any]) -> str | None:
    return person.get("chat_id") or None


def body(m: Outgoing) -> dict[str, Any]:
    text = m.text.replace("<", "＜").replace(">", "＞")
    if m.address:
        text = f'<at user_id="{html.escape(m.address)}"></at> {text}'
    return {"msg_type": "text", "content": {"text": text}}


def send(
    config: Mapping[str, Any], messages: Sequence[Outgoing], http: requests.Session, allowed: frozenset[str]
) -> Iterator[Outcome]:
    for m in messages:
        payload = body(m)
        if config.get("secret"):
            timestamp = int(time.time())
            payload = {
                "timestamp": str(timestamp),
                "sign": signature(timestamp, config["secret"], key_is_secret=False),
                **payload,
            }
        yield post_json(http, config["url"], payload, allowed=allowed, ok=_check)
