"""DingTalk (钉钉) group robot: a `text` message, `isAtAll` always false (an `@all` typed in a
step name pings nobody); a person is mentioned by their DingTalk user id (`chat_id`)."""
from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

import requests

from . import Outcome, Outgoing, post_json
from .chatrobot import answer_checker

_check = answer_checker(("errcode",), frozenset({130101}))


def reaches(person: Mapping[str, Any]) -> str | None:
    return person.get("chat_id") or None


def body(m: Outgoing) -> dict[str, Any]:
    return {"msgtype": "text", "text": {"content": m.text},
            "at": {"atUserIds": [m.address] if m.address else [], "isAtAll": False}}


def send(config: Mapping[str, Any], messages: Sequence[Outgoing], http: requests.Session,
         allowed: frozenset[str]) -> Iterator[Outcome]:
    yield from (post_json(http, config["url"], body(m), allowed=allowed, ok=_check) for m in messages)
