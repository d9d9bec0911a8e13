"""Channels' shared parts: a message as a channel sends it (`Outgoing`) → one `Outcome`; the
`Channel` protocol every channel module meets; Retry-After; a webhook POST with its answer
classified. Channel modules import these from here (never from their package, which picks them)."""

from __future__ import annotations

import email.utils
import functools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from ..outbound import OutboundRefused, check_url

TIMEOUT = (5, 15)  # connect, read (seconds)


@dataclass(frozen=True)
class Outgoing:
    """One notification as a channel sends it; `key` is the dedup key."""

    key: str
    event: str
    site: str
    run: str | None
    task: str | None
    recipient: str
    name: str | None  # the recipient's display name
    address: str | None  # email, phone or chat id when sent to a person
    lang: str
    subject: str
    text: str
    link: str | None
    drill: bool

    def body(self) -> dict[str, Any]:
        """The generic webhook body (docs/language.md, channels)."""
        return {
            "id": self.key,
            "event": self.event,
            "site": self.site,
            "run": self.run,
            "task": self.task,
            "recipient": self.recipient,
            "lang": self.lang,
            "text": self.text,
            "link": self.link,
            "drill": self.drill,
        }


@dataclass(frozen=True)
class Outcome:
    """sent; or not sent: `retry` (maybe after `retry_after` seconds) or dead (never retried)."""

    sent: bool
    retry: bool = False
    retry_after: float | None = None
    error: str | None = None
    destination_down: bool = False  # the destination, not this message, failed: count it for the breaker


SENT = Outcome(sent=True)


def dead(error: str) -> Outcome:
    return Outcome(sent=False, retry=False, error=error)


def retry(error: str, after: float | None = None, *, down: bool = True) -> Outcome:
    return Outcome(sent=False, retry=True, retry_after=after, error=error, destination_down=down)


def retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def post_json(
    http: requests.Session,
    url: str,
    body: Any,
    *,
    allowed: frozenset[str],
    headers: Mapping[str, str] | None = None,
    data: bytes | None = None,
    ok: Callable[[requests.Response], Outcome] | None = None,
    params: Mapping[str, Any] | None = None,
) -> Outcome:
    """POST to a webhook and classify the answer: 2xx sent; 408/425/429/5xx and connection
    errors retried (honouring Retry-After); any other 4xx, a redirect or a refused URL dead.
    `ok(response)` may look inside a 200 (chat robots answer errors with 200 and a code)."""
    refused = _refused(url, allowed)
    if refused:
        return dead(refused)
    try:
        response = http.post(
            url,
            json=body if data is None else None,
            data=data,
            headers=dict(headers or {}),
            params=params,
            timeout=TIMEOUT,
            allow_redirects=False,
        )
    except OutboundRefused as e:  # the address it resolves to, checked at connect time
        return dead(str(e))
    except requests.RequestException as e:
        return retry(f"{type(e).__name__}: cannot reach the destination")
    status = response.status_code
    if 200 <= status < 300:
        return ok(response) if ok else SENT
    after = retry_after(response.headers.get("Retry-After"))
    if status in (408, 425, 429) or status >= 500:
        return retry(f"HTTP {status}", after)
    if 300 <= status < 400:
        return dead(f"HTTP {status}: redirects are not followed for notifications")
    return dead(f"HTTP {status}: the destination refused the message")


@functools.lru_cache(maxsize=256)
def _refused(url: str, allowed: frozenset[str]) -> str | None:
    """Why a URL is refused, or None; cached (a batch posts to one URL many times)."""
    try:
        check_url(url, allowed)
    except OutboundRefused as e:
        return str(e)
    return None


class Channel(Protocol):
    """A channel module: the address it reaches a person by, and one outcome per message sent."""

    def reaches(self, person: Mapping[str, Any]) -> str | None: ...

    def send(
        self, config: Mapping[str, Any], messages: Sequence[Outgoing], http: requests.Session, allowed: frozenset[str]
    ) -> Iterator[Outcome]: ...
