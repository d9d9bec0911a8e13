"""Slack incoming webhook: `{"text", "mrkdwn": false}` with Slack's three control characters
escaped, so a step named `<!channel>` or `*bold*` is shown as typed and pings nobody."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import requests

from .base import Outcome, Outgoing, post_json


def reaches(person: Mapping[str, Any]) -> str | None:
    return person.get("chat_id") or None


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def body(m: Outgoing) -> dict[str, Any]:
    text = escape(m.text)
    if m.address:
        text = f"<@{escape(m.address)}> {text}"
    return {"text": text, "mrkdwn": False, "unfurl_links": False}


def send(
    config: Mapping[str, Any], messages: Sequence[Outgoing], http: requests.Session, allowed: frozenset[str]
) -> Iterator[Outcome]:
    yield from (
        post_json(http, config["url"], body(m), allowed=allowed, headers={"Idempotency-Key": m.key}) for m in messages
    )
