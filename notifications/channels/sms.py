"""SMS through any vendor's HTTP gateway: the channel's `body:` is the request's JSON with
`${{ to }}` (one number), `${{ recipients }}` (the numbers of a batch), `${{ text }}`,
`${{ id }}` (the dedup key; a batch's first) and `${{ env.X }}` (credentials). With `batch: N`
(the vendor sends one text to many numbers), consecutive messages with the same text go in one
call of up to N numbers; personal texts (a muster link) go one by one. A person is reached by
their roster `phone`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import requests

from runbooks.expressions import ExpressionError, render_value

from .base import Outcome, Outgoing, dead, post_json

PERSONAL = True  # reaches one person at their own number: personal links may go here (flows/notify.py)
DEFAULT_BODY = {"id": "${{ id }}", "to": "${{ to }}", "text": "${{ text }}"}


def reaches(person: Mapping[str, Any]) -> str | None:
    return person.get("phone") or None


def _batches(messages: Sequence[Outgoing], size: int) -> Iterator[list[Outgoing]]:
    batch: list[Outgoing] = []
    for m in messages:
        if batch and (len(batch) == size or m.text != batch[0].text):
            yield batch
            batch = []
        batch.append(m)
    if batch:
        yield batch


def send(
    config: Mapping[str, Any], messages: Sequence[Outgoing], http: requests.Session, allowed: frozenset[str]
) -> Iterator[Outcome]:
    template = config.get("body") or DEFAULT_BODY
    for batch in _batches(messages, int(config.get("batch") or 1)):
        numbers = [m.address for m in batch if m.address]
        if len(numbers) < len(batch):  # a message to the channel itself: nobody's number
            yield from [dead("an sms goes to people: this message names no phone number")] * len(batch)
            continue
        variables = {
            "env": dict(config.get("_env") or {}),
            "to": numbers[0],
            "recipients": numbers,
            "text": batch[0].text,
            "id": batch[0].key,
        }
        try:
            body = render_value(template, variables)
        except ExpressionError as e:
            yield from [dead(f"the sms body template: {e}")] * len(batch)
            continue
        outcome = post_json(http, config["url"], body, allowed=allowed, headers={"Idempotency-Key": batch[0].key})
        yield from [outcome] * len(batch)
