"""Feishu / Lark (飞书) group robot: a `text` message. Feishu reads `<at user_id=...>` tags in
text, so `<` from our text becomes a full-width `＜`; a person is mentioned by a tag we write."""
from __future__ import annotations

import html
from typing import Any, Iterator, Mapping, Sequence

import requests

from . import Outcome, Outgoing, post_json
from .chatrobot import answer_checker

_check = answer_checker(("code", "StatusCode"), frozenset({9499, 11232}))


def reaches(person: Mapping[str, Any]) -> str | None:
    return person.get("chat_id") or None


def body(m: Outgoing) -> dict[str, Any]:
    text = m.text.replace("<", "＜").replace(">", "＞")
    if m.address:
        text = f'<at user_id="{html.escape(m.address)}"></at> {text}'
    return {"msg_type": "text", "content": {"text": text}}


def send(config: Mapping[str, Any], messages: Sequence[Outgoing], http: requests.Session,
         allowed: frozenset[str]) -> Iterator[Outcome]:
    yield from (post_json(http, config["url"], body(m), allowed=allowed, ok=_check) for m in messages)
