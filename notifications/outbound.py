"""Outbound check: a URL (and each redirect) → allowed, or refused naming the host and the
setting. Calls go only to hosts the operator allowed: the hosts of the site's channels and
`RUNBOOK_OUTBOUND_ALLOW` (comma-separated `host` or `host:port`). A host that is not listed is
refused; the message says so, and says when it is loopback, private or link-local."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Iterable

from urllib3.util import parse_url

# What urllib parsers disagree on (a backslash, spaces, control characters): never let it
# through, so the host we check is the host the connection goes to.
_AMBIGUOUS = re.compile(r"[\\\s\x00-\x1f\x7f]")


class OutboundRefused(Exception):
    pass


def allow_list(extra_urls: Iterable[str] = ()) -> frozenset[str]:
    entries = {e.strip().lower() for e in os.environ.get("RUNBOOK_OUTBOUND_ALLOW", "").split(",") if e.strip()}
    for url in extra_urls:
        host, port = _host_port(url)
        if host:
            entries.add(f"{host}:{port}")
    return frozenset(entries)


def _host_port(url: str) -> tuple[str, int]:
    """Host and port as urllib3 (which `requests` connects with) reads them."""
    try:
        parts = parse_url(url)
    except ValueError:
        return "", 0
    host = (parts.host or "").lower().strip("[]")
    return host, parts.port or (443 if parts.scheme == "https" else 80)


def _kind_of(host: str) -> str | None:
    """'loopback', 'private', 'link-local' when the host is or resolves to such an address."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        return None
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if ip.is_loopback:
            return "loopback"
        if ip.is_link_local:
            return "link-local"
        if ip.is_private or ip.is_reserved or ip.is_unspecified or ip.is_multicast:
            return "private"
    return None


def check_url(url: str, allowed: frozenset[str]) -> None:
    if _AMBIGUOUS.search(url):
        raise OutboundRefused("refused a URL with a backslash, a space or a control character")
    try:
        parts = parse_url(url)
    except ValueError:
        raise OutboundRefused("refused a URL that does not parse") from None
    if parts.scheme not in ("http", "https"):
        raise OutboundRefused(f"refused a {parts.scheme or 'relative'} URL: only http and https URLs are called")
    if parts.auth:
        raise OutboundRefused("refused a URL with a user name or password in it: put credentials in headers")
    host, port = _host_port(url)
    if not host:
        raise OutboundRefused("refused a URL without a host")
    if host in allowed or f"{host}:{port}" in allowed:
        return
    kind = _kind_of(host)
    what = f"{host}:{port}" + (f" is a {kind} address" if kind else " is not an allowed host")
    raise OutboundRefused(
        f"refused {parts.scheme}://{host}:{port}: {what}; allow it in RUNBOOK_OUTBOUND_ALLOW "
        f"(e.g. RUNBOOK_OUTBOUND_ALLOW={host}:{port}) or in the site's channels"
    )
