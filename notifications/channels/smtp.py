"""Email over SMTP: one connection per batch, STARTTLS unless the channel says
`starttls: false` (a server that does not offer it is refused, not talked to in clear), login
when a username is set; each mail has a plain and an HTML part, the subject encoded (RFC 2047)
so Chinese arrives intact, and the dedup key in `X-Runbook-Id`.

Answers: 4xx → retried; 5xx → dead; a dropped connection → the rest of the batch retried."""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any, Mapping, Sequence

from ..render import html_mail
from . import SENT, Outcome, Outgoing, dead, retry

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


def send(config: Mapping[str, Any], messages: Sequence[Outgoing], http: Any = None,
         allowed: frozenset[str] = frozenset()) -> list[Outcome]:
    if not config.get("from"):
        return [dead("the smtp channel has no from: address")] * len(messages)
    starttls = config.get("starttls", True)
    port = int(config.get("port") or (587 if starttls else 25))
    try:
        server = smtplib.SMTP(config["host"], port, timeout=TIMEOUT)
    except (OSError, smtplib.SMTPException) as e:
        return [retry(f"cannot connect to the SMTP server ({type(e).__name__})")] * len(messages)
    outcomes: list[Outcome] = []
    try:
        server.ehlo()
        if starttls:
            if not server.has_extn("starttls"):
                return [dead("the SMTP server does not offer STARTTLS; set starttls: false on the channel "
                             "to send in clear")] * len(messages)
            server.starttls(context=ssl.create_default_context())
            server.ehlo()
        if config.get("username"):
            server.login(config["username"], config.get("password") or "")
        for m in messages:
            to = [m.address] if m.address else list(config.get("to") or [])
            if not to:
                outcomes.append(dead("no address: the person has no email and the channel no to:"))
                continue
            try:
                server.send_message(build(config, m, to), to_addrs=to)
                outcomes.append(SENT)
            except smtplib.SMTPRecipientsRefused as e:
                code = min(c for c, _ in e.recipients.values())
                outcomes.append(_code_outcome(code, "recipient refused"))
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as e:
                outcomes.append(_code_outcome(e.smtp_code, "message refused"))
    except smtplib.SMTPAuthenticationError as e:
        return [dead(f"SMTP login refused ({e.smtp_code})")] * len(messages)
    except ssl.SSLError as e:
        return [dead(f"STARTTLS failed: {e.reason or 'certificate not trusted'}")] * len(messages)
    except (OSError, smtplib.SMTPException) as e:
        rest = len(messages) - len(outcomes)
        return outcomes + [retry(f"SMTP connection lost ({type(e).__name__})")] * rest
    finally:
        try:
            server.quit()
        except (OSError, smtplib.SMTPException):
            server.close()
    return outcomes
