"""WeCom (企业微信) group robot: a `text` message (never markdown, so nothing typed in a step
name formats or mentions); a person is mentioned by their WeCom user id (`chat_id`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import requests

from .base import Outcome, Outgoing, post_json
from .chatrobot import answer_checker

_check = answer_checker(("errcode",), frozenset({45009}))


def reaches(person: Mapping[str, Any]) -> str | None:
    return person.get("chat_id") or None


def body(m: Outgoing) -> dict[str, Any]:
    text: dict[str, Any] = {"content": m.text}
    if m.address:
        text["mentioned_list"] = [m.address]
    return {"msgtype": "text", "text": text}


def send(
    config: Mapping[str, Any], messages: Sequence[Outgoing], http: requests.Session, allowed: frozenset[str]
) -> Iterator[Outcome]:
    yield from (post_json(http, config["url"], body(m), allowed=allowed, ok=_check) for m in messages)
