"""Microsoft Teams webhook (Workflows / incoming webhook): an Adaptive Card whose text is in
`TextRun`s, which Teams never reads as markdown, so `**`, `[x](y)` and `<at>` arrive as typed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import requests

from .base import Outcome, Outgoing, post_json


def reaches(person: Mapping[str, Any]) -> str | None:
    return None  # a Teams webhook posts to a channel; people are named in the text


def body(m: Outgoing) -> dict[str, Any]:
    runs = [{"type": "TextRun", "text": m.subject, "weight": "Bolder"}]
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {"type": "RichTextBlock", "inlines": runs},
            {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": m.text}]},
        ],
    }
    if m.link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open", "url": m.link}]
    return {
        "type": "message",
        "summary": m.subject,
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}],
    }


def send(
    config: Mapping[str, Any], messages: Sequence[Outgoing], http: requests.Session, allowed: frozenset[str]
) -> Iterator[Outcome]:
    yield from (
        post_json(http, config["url"], body(m), allowed=allowed, headers={"Idempotency-Key": m.key}) for m in messages
    )
