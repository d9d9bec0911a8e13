"""Outbox dispatcher: queued notifications (rows the state change wrote in its own transaction)
→ delivered through their channel, at least once, with the dedup key.

Each round claims a batch of due rows (they are not due again for `lease` seconds: a
dispatcher killed mid-batch leaves them to be sent again then, with the same key), sends them
grouped by destination (a site channel), and records every outcome in one transaction:
- sent;
- retried: exponential backoff with full jitter from `base` to `cap`, never sooner than the
  destination's Retry-After; dead once older than `max_age`;
- dead at once when it can never succeed (a 4xx, a refused URL, a missing setting): shown by
  `runbook outbox`, re-queued by `runbook outbox --retry`.
A destination failing `breaker_failures` times in a row opens its circuit breaker: its
messages wait without attempts; after `cooldown` one message probes it (the cooldown doubles
up to `cooldown_cap` while probes fail) and a successful probe closes it. During an outage of
T seconds a destination therefore sees at most `breaker_failures + 1 + T / cooldown`
attempts, however many messages wait.

The store is duck-typed (flows' Store: `transaction()`, `read()`), so this package stays below
flows in the import order."""

from __future__ import annotations

import collections
import logging
import os
import random
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from runbooks.expressions import ExpressionError, render_value

from .channels import Outcome, Outgoing, channel, dead
from .outbound import allow_list, pinned_session
from .render import mark_drill, render_digest

# Retry jitter from a generator of its own: the global one is the process's (and its tests').
_JITTER = random.Random()

log = logging.getLogger("runbook.outbox")


@dataclass(frozen=True)
class Policy:
    batch: int = 200
    base: float = 1.0
    cap: float = 300.0
    max_age: float = 24 * 3600.0
    breaker_failures: int = 5
    cooldown: float = 5.0
    cooldown_cap: float = 120.0
    lease: float = 60.0
    poll: float = 0.25
    threads: int = 8  # destinations served at once
    rate_window: float = 60.0  # a channel's per_minute counts sends in this rolling window

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Policy:
        """Durations divided by RUNBOOK_TIME_SCALE, like every other duration (docs/lifecycle.md#time)."""
        scale = float(env.get("RUNBOOK_TIME_SCALE") or 1) or 1.0
        d = cls()
        return cls(
            batch=d.batch,
            base=d.base / scale,
            cap=d.cap / scale,
            max_age=d.max_age / scale,
            breaker_failures=d.breaker_failures,
            cooldown=d.cooldown / scale,
            cooldown_cap=d.cooldown_cap / scale,
            lease=max(d.lease / scale, 5.0),
            poll=d.poll,
        )


@dataclass
class Breaker:
    """One destination's circuit breaker (in memory: a restarted dispatcher learns again)."""

    policy: Policy
    failures: int = 0
    open_until: float = 0.0
    cooldown: float = 0.0
    attempts: int = 0  # messages attempted, for the record and the tests

    def state(self, now: float) -> str:
        if self.open_until > now:
            return "open"
        return "probe" if self.failures >= self.policy.breaker_failures else "closed"

    def success(self) -> None:
        self.failures, self.open_until, self.cooldown = 0, 0.0, 0.0

    def failure(self, now: float, retry_after: float | None) -> None:
        self.failures += 1
        if self.failures >= self.policy.breaker_failures:
            self.cooldown = min(self.cooldown * 2 if self.cooldown else self.policy.cooldown, self.policy.cooldown_cap)
            self.open_until = now + max(self.cooldown, retry_after or 0.0)
        elif retry_after:
            self.open_until = now + retry_after  # the destination asked us to wait


_ENV_NAME = re.compile(r"\benv\.([A-Za-z_][A-Za-z0-9_]*)")


def render_channel(spec: Mapping[str, Any], env: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """A site channel with its `${{ env.X }}` rendered → (config, secret values to mask)."""
    names = {n for v in spec.values() if isinstance(v, str) and "${{" in v for n in _ENV_NAME.findall(v)}
    missing = sorted(n for n in names if n not in env)
    if missing:
        raise ExpressionError(f"environment variable {', '.join(missing)} is not set")
    config = render_value({k: v for k, v in spec.items() if k != "body"}, {"env": dict(env)})
    if "body" in spec:  # a per-message template (sms): rendered by the channel, with the message
        config["body"], config["_env"] = spec["body"], dict(env)
    secrets = [
        v
        for k, v in config.items()
        if isinstance(v, str) and k in ("url", "secret", "password", "username") and v != spec.get(k)
    ]
    secrets += [v for v in (config.get("headers") or {}).values() if isinstance(v, str)]
    return config, secrets


def mask(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


@dataclass
class Dispatcher:
    store: Any
    home: Path
    policy: Policy = field(default_factory=Policy.from_env)
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    echo: bool = True  # console channel also prints to stdout
    clock: Callable[[], float] = time.time
    breakers: dict[str, Breaker] = field(default_factory=dict)
    limits: dict[str, RateLimit] = field(default_factory=dict)
    _wake: threading.Event = field(default_factory=threading.Event)
    _sessions: dict[str, requests.Session] = field(default_factory=dict)  # one per destination (threads)

    def wake(self, *_: Any) -> None:
        """Something was queued: look now rather than at the next poll."""
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                busy = self.run_once()
            except Exception:  # noqa: BLE001 - the dispatcher outlives a bad round; the rows stay queued
                log.exception("outbox round failed; retrying")
                busy = 0
            if not busy:
                self._wake.wait(self.policy.poll)
                self._wake.clear()

    def drain(self, timeout: float = 60.0) -> int:
        """Send until nothing is due (for `runbook dispatch --once`, the CLI and tests)."""
        sent, deadline = 0, time.monotonic() + timeout
        while time.monotonic() < deadline:
            n = self.run_once()
            if not n:
                return sent
            sent += n
        return sent

    def run_once(self) -> int:
        now = self._now()
        until = now + timedelta(seconds=self.policy.lease)
        with self.store.transaction() as tx:
            rows = tx.claim_outbox(now, until, self.policy.batch)
        if not rows:
            return 0
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            groups[f"{row['site_id']}/{row['channel']}"].append(row)
        if len(groups) == 1:
            results = self._deliver(*next(iter(groups.items())))
        else:  # destinations in parallel: a slow one does not hold the others back
            with ThreadPoolExecutor(max_workers=min(len(groups), self.policy.threads)) as pool:
                results = [r for batch in pool.map(lambda g: self._deliver(*g), groups.items()) for r in batch]
        with self.store.transaction() as tx:
            tx.finish_outbox(results, until)
        return len(rows)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _deliver(self, destination: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send one destination's rows in order while its breaker and rate limit let them
        through. Several messages to one person of one kind (48 tasks assigned to a lead)
        become one digest; past the rate limit the rest become one digest too, never dropped.
        A destination found down mid-batch stops being tried at once (the channel's generator
        is closed) and the rest waits, unattempted."""
        breaker = self.breakers.setdefault(destination, Breaker(self.policy))
        now = self.clock()
        if breaker.state(now) == "open":
            return [self._later(r, breaker.open_until) for r in rows]
        spec = rows[0]["channel_spec"]
        units = _coalesce(rows)
        later: list[dict[str, Any]] = []
        limit = self._limit(destination, spec)
        if limit is not None:
            room = limit.room(now)
            if room <= 0:
                return [self._later(r, limit.next_free()) for r in rows]
            if len(units) > room and spec.get("kind") in PERSONAL_KINDS:  # the rest waits for room
                waiting = [r for unit in units[room:] for r in unit]
                units = units[:room]
                rows = [r for unit in units for r in unit]
                later = [self._later(r, limit.next_free()) for r in waiting]
            elif len(units) > room:  # a group channel: what the limit does not let through goes as one digest
                units = units[: room - 1] + [[r for unit in units[room - 1 :] for r in unit]]
        messages = [_message(unit) for unit in units]
        results: list[dict[str, Any]] = []
        outcomes, secrets = self._send(destination, rows[0], messages)
        done = 0
        try:
            for unit, outcome in zip(units, outcomes, strict=False):
                results += [self._result(r, outcome, secrets) for r in unit]
                done += 1
                breaker.attempts += 1
                if limit is not None and not (outcome.retry and not outcome.destination_down):
                    limit.took(self.clock())
                if outcome.sent:
                    breaker.success()
                elif outcome.destination_down:
                    breaker.failure(self.clock(), outcome.retry_after)
                if breaker.state(self.clock()) != "closed":
                    break
        except Exception as e:  # noqa: BLE001 - a channel bug must not lose the batch: retry it
            log.warning("channel %s failed: %s", destination, mask(repr(e), secrets))
            failed = Outcome(sent=False, retry=True, error=mask(f"{type(e).__name__}: {e}", secrets))
            results += [self._result(r, failed, secrets) for unit in units[done:] for r in unit]
            done = len(units)
        finally:
            close = getattr(outcomes, "close", None)
            if close is not None:
                close()
        again = breaker.open_until if breaker.state(self.clock()) == "open" else self.clock()
        return results + [self._later(r, again) for unit in units[done:] for r in unit] + later

    def _limit(self, destination: str, spec: Mapping[str, Any]) -> RateLimit | None:
        per_minute = spec.get("per_minute") or RATE_DEFAULTS.get(spec.get("kind", ""))
        if not per_minute:
            return None
        limit = self.limits.get(destination)
        if limit is None or limit.per_window != per_minute:
            limit = self.limits[destination] = RateLimit(int(per_minute), self.policy.rate_window)
        return limit

    def _send(
        self, destination: str, first: Mapping[str, Any], messages: list[Outgoing]
    ) -> tuple[Iterator[Outcome], list[str]]:
        spec = first["channel_spec"]
        module = channel(spec.get("kind", ""))
        if module is None:
            return iter([dead(f"channel kind {spec.get('kind')!r} cannot send in this version")] * len(messages)), []
        try:
            config, secrets = render_channel(spec, self.env)
        except ExpressionError as e:
            return iter([dead(f"channel {first['channel']!r}: {e}")] * len(messages)), []
        if spec.get("kind") == "console":
            config = {**config, "home": str(self.home), "echo": self.echo}
        missing = [k for k in ("url", "host") if k in spec and spec[k] and not config.get(k)]
        if missing:
            return iter([dead(f"channel {first['channel']!r}: {missing[0]} is empty")] * len(messages)), secrets
        # The site's channel hosts are allowed (docs/language.md), also when the URL comes from the
        # environment; then its address must be public unless RUNBOOK_OUTBOUND_ALLOW names it.
        allowed = allow_list([str(config["url"])] if config.get("url") else [])
        explicit = allow_list() if "${{" in str(spec.get("url", "")) else None
        session = self._sessions.get(destination)
        if session is None:
            session = self._sessions[destination] = pinned_session(allowed, _session(config.get("url")), explicit)
        return module.send(config, messages, session, allowed), secrets

    def _result(self, row: Mapping[str, Any], outcome: Outcome, secrets: Sequence[str]) -> dict[str, Any]:
        now = self._now()
        attempts = row["attempts"] + 1
        base = {
            "pk": row["pk"],
            "attempts": attempts,
            "sent_at": None,
            "next_attempt_at": now,
            "last_error": mask(outcome.error or "", secrets)[:1000] or None,
        }
        if outcome.sent:
            return {**base, "state": "sent", "sent_at": now}
        age = (now - row["created_at"]).total_seconds()
        if not outcome.retry or age > self.policy.max_age:
            why = (
                base["last_error"] if not outcome.retry else f"gave up after {attempts} attempts: {base['last_error']}"
            )
            return {**base, "state": "dead", "last_error": why}
        delay = min(self.policy.cap, self.policy.base * 2 ** (attempts - 1))
        delay = _JITTER.uniform(delay / 2, delay)
        delay = max(delay, outcome.retry_after or 0.0)
        return {**base, "state": "pending", "next_attempt_at": now + timedelta(seconds=delay)}

    def _later(self, row: Mapping[str, Any], when: float) -> dict[str, Any]:
        return {
            "pk": row["pk"],
            "state": "pending",
            "attempts": row["attempts"],
            "sent_at": None,
            "last_error": row["last_error"],
            "next_attempt_at": datetime.fromtimestamp(when, UTC),
        }


def _session(url: str | None) -> requests.Session:
    """A session for one destination with the environment's proxy and CA settings read once
    (requests re-reads the whole environment on every request otherwise: a third of the cost
    of a local post)."""
    session = requests.Session()
    session.trust_env = False
    if url:
        session.proxies = requests.utils.get_environ_proxies(url)
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    return session


# Chat robots take about 20 messages a minute (WeCom, DingTalk) and Feishu 100.
RATE_DEFAULTS = {"wecom": 20, "dingtalk": 20, "feishu": 100}
# Channels that deliver to a person's own address: a digest of several people cannot go there.
PERSONAL_KINDS = frozenset({"sms", "smtp"})
# Events that pile up for one person (a lead with 48 new tasks): merged into one digest.
DIGESTIBLE = frozenset({"task.assigned", "approval.requested", "task.overdue", "task.reminder", "task.cancelled"})


@dataclass
class RateLimit:
    """At most `per_window` sends in any rolling `window` seconds."""

    per_window: int
    window: float
    sent: collections.deque = field(default_factory=collections.deque)

    def room(self, now: float) -> int:
        while self.sent and self.sent[0] <= now - self.window:
            self.sent.popleft()
        return self.per_window - len(self.sent)

    def next_free(self) -> float:
        return self.sent[0] + self.window if self.sent else time.time()

    def took(self, now: float) -> None:
        self.sent.append(now)


def _coalesce(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows → units to send, in order: a person's several messages of one digestible kind
    become one unit (a digest), placed where the first of them was."""
    units: list[list[dict[str, Any]]] = []
    by_key: dict[tuple, list[dict[str, Any]]] = {}
    for row in rows:
        if row["event"] in DIGESTIBLE:
            key = (row["recipient"], row["address"], row["event"], row["lang"])
            if key in by_key:
                by_key[key].append(row)
                continue
            by_key[key] = [row]
            units.append(by_key[key])
        else:
            units.append([row])
    return units


def _message(unit: list[dict[str, Any]]) -> Outgoing:
    """One row → its message; several → one digest to the first one's recipient."""
    first = _outgoing(unit[0])
    if len(unit) == 1:
        return first
    parts = [_outgoing(r) for r in unit]
    subject, text = render_digest(parts, first.lang)
    drill = any(p.drill for p in parts)
    if drill:
        subject, text = mark_drill(subject, text, first.lang)
    same_person = len({(p.recipient, p.address) for p in parts}) == 1
    return Outgoing(
        key=f"{first.key}+{len(unit) - 1}",
        event="digest",
        site=first.site,
        run=first.run if len({p.run for p in parts}) == 1 else None,
        task=None,
        recipient=first.recipient if same_person else f"channel:{unit[0]['channel']}",
        name=first.name if same_person else None,
        address=first.address if same_person else None,
        lang=first.lang,
        subject=subject,
        text=text,
        link=None,
        drill=drill,
    )


def _outgoing(row: Mapping[str, Any]) -> Outgoing:
    m = row["message"]
    return Outgoing(
        key=row["key"],
        event=row["event"],
        site=row["site_id"],
        run=row["run_id"],
        task=row["task_id"],
        recipient=row["recipient"],
        name=m.get("name"),
        address=row["address"],
        lang=row["lang"],
        subject=m["subject"],
        text=m["text"],
        link=m.get("link"),
        drill=bool(m.get("drill")),
    )
