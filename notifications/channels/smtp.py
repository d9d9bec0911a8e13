"""Email over SMTP: one connection per batch, STARTTLS unless the channel says
`starttls: false` (a server that does not offer it is refused, not talked to in clear), login
when a username is set; each mail has a plain and an HTML part, the subject encoded (RFC 2047)
so Chinese arrives intact, and the dedup key in `X-Runbook-Id`.

Answers: 4xx → retried; 5xx → dead; a dropped connection → the rest of the batch retried."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator, Mapping, Sequence
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

from ..render import html_mail
from .base import SENT, Outcome, Outgoing, dead, retry

PERSONAL = True  # reaches one person at their own address: personal links may go here (flows/notify.py)
TIMEOUT = 20


def reaches(person: Mapping[str, Any]) -> str | None:
    return person.get("email") or None


def build(config: Mapping[str, Any], m: Outgoing, to: list[str]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = m.subject
    msg["From"] = config["from"]
    msg["To"] = ", ".join(formataddr((m.name, a)) if m.name and m.address else a for a in to)
    msg["Message-ID"] = make_msgid(domain=str(config["from"]).rpartition("@")[2] or None)
    msg["X-Runbook-Id"] = m.key
    msg.set_content(m.text + (f"\n\n{m.link}" if m.link else "") + "\n")
    msg.add_alternative(html_mail(m), subtype="html")
    return msg


def _code_outcome(code: int, what: str) -> Outcome:
    if 400 <= code < 500:
        return retry(f"{what}: SMTP {code} (temporary)", down=False)
    return dead(f"{what}: SMTP {code}")


def send(
    config: Mapping[str, Any], messages: Sequence[Outgoing], http: Any = None, allowed: frozenset[str] = frozenset()
) -> Iterator[Outcome]:
    """One outcome per message, as each is sent: a caller that stops early (the destination's
    breaker opened) closes the generator, and the connection is closed politely."""
    if not config.get("from"):
        yield from [dead("the smtp channel has no from: address")] * len(messages)
        return
    starttls = config.get("starttls", True)
    port = int(config.get("port") or (587 if starttls else 25))
    try:
        server = smtplib.SMTP(config["host"], port, timeout=TIMEOUT)
    except (OSError, smtplib.SMTPException) as e:
        yield from [retry(f"cannot connect to the SMTP server ({type(e).__name__})")] * len(messages)
        return
    sent = 0
    try:
        try:
            _open(server, config, starttls)
        except _Refused as e:
            yield from [e.outcome] * len(messages)
            return
        for m in messages:
            to = [m.address] if m.address else list(config.get("to") or [])
            if not to:
                outcome = dead("no address: the person has no email and the channel no to:")
            else:
                outcome = _send_one(server, config, m, to)
            sent += 1
            yield outcome
    except (OSError, smtplib.SMTPException) as e:
        yield from [retry(f"SMTP connection lost ({type(e).__name__})")] * (len(messages) - sent)
    finally:
        try:
            server.quit()
        except (OSError, smtplib.SMTPException):
            server.close()


class _Refused(Exception):
    def __init__(self, outcome: Outcome):
        self.outcome = outcome


def _open(server: smtplib.SMTP, config: Mapping[str, Any], starttls: bool) -> None:
    server.ehlo()
    if starttls:
        if not server.has_extn("starttls"):
            raise _Refused(
                dead("the SMTP server does not offer STARTTLS; set starttls: false on the channel to send in clear")
            )
        try:
            server.starttls(context=ssl.create_default_context())
        except ssl.SSLError as e:
            raise _Refused(dead(f"STARTTLS failed: {e.reason or 'certificate not trusted'}")) from None
        server.ehlo()
    if config.get("username"):
        try:
            server.login(config["username"], config.get("password") or "")
        except smtplib.SMTPAuthenticationError as e:
            raise _Refused(dead(f"SMTP login refused ({e.smtp_code})")) from None


def _send_one(server: smtplib.SMTP, config: Mapping[str, Any], m: Outgoing, to: list[str]) -> Outcome:
    try:
        server.send_message(build(config, m, to), to_addrs=to)
        return SENT
    except smtplib.SMTPRecipientsRefused as e:
        return _code_outcome(min(c for c, _ in e.recipients.values()), "recipient refused")
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as e:
        return _code_outcome(e.smtp_code, "message refused")
