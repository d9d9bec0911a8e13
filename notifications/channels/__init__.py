"""Channels: one module per kind, chosen from `CHANNELS` by the site channel's `kind`.

A channel module has `reaches(person) -> address | None` (the roster field it delivers to a
person by, or None when it cannot reach them personally) and `send(config, messages, http)
-> outcomes`, one `Outcome` per message in order (the `Channel` protocol of `base.py`, where
the types the channels share live). `config` is the site channel with its `${{ env.X }}` values
rendered; `messages` share that channel (one SMTP connection, one console fsync, one HTTP
session per batch)."""

from __future__ import annotations

from . import console, dingtalk, feishu, slack, sms, smtp, teams, webhook, wecom
from .base import SENT, TIMEOUT, Channel, Outcome, Outgoing, dead, post_json, retry, retry_after

__all__ = [
    "CHANNELS",
    "SENT",
    "TIMEOUT",
    "Channel",
    "Outcome",
    "Outgoing",
    "channel",
    "dead",
    "post_json",
    "retry",
    "retry_after",
]

CHANNELS: dict[str, Channel] = {
    "webhook": webhook,
    "slack": slack,
    "teams": teams,
    "wecom": wecom,
    "dingtalk": dingtalk,
    "feishu": feishu,
    "sms": sms,
    "smtp": smtp,
    "console": console,
}


def channel(kind: str) -> Channel | None:
    """The module for a channel kind, or None when this version cannot send through it."""
    return CHANNELS.get(kind)
