"""Outbound check: a URL (and each redirect) → allowed, or refused naming the host and the
setting; at connect time, the address the name resolves to → checked, then connected to. Calls
go only to hosts the operator allowed: the hosts of the site's channels and
`RUNBOOK_OUTBOUND_ALLOW` (comma-separated `host` or `host:port`). A host that is not listed is
refused; the message says so, and says when it is loopback, private or link-local."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Iterable
from typing import Any

import requests
import requests.adapters
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


# --- at connect time ------------------------------------------------------------------------------
# A name is checked above; the address is checked here, when the connection is made: the name is
# resolved once, every address it resolves to must pass, and the connection goes to the address
# checked (Host header and TLS name kept), so a name re-pointed between the check and the call, or
# an allowed name that resolves to loopback, reaches nothing it should not.


def _special(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"  # cloud metadata services live here
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "reserved"
    return None


def checked_address(host: str, port: int, allowed: frozenset[str], explicit: frozenset[str] | None = None) -> str:
    """The address to connect to for `host:port`: resolved once, each address checked. A loopback,
    link-local or reserved address passes only when it is itself allowed (`127.0.0.1:8080`).
    `explicit` (a channel URL from the environment): then a private, loopback or link-local
    address passes only when RUNBOOK_OUTBOUND_ALLOW (`explicit`) names the host or the address."""
    if explicit is not None:
        return _checked_env_address(host, port, explicit)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise OutboundRefused(f"refused {host}:{port}: the name does not resolve ({e.strerror})") from None
    addresses = list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))
    for address in addresses:
        kind = _special(ipaddress.ip_address(address))
        if kind and address not in allowed and f"{address}:{port}" not in allowed:
            shown = f"[{address}]" if ":" in address else address
            raise OutboundRefused(
                f"refused {host}:{port}: it resolves to {shown}, a {kind} address; allow that address "
                f"itself in RUNBOOK_OUTBOUND_ALLOW (e.g. RUNBOOK_OUTBOUND_ALLOW={shown}:{port}) if it is meant"
            )
    return addresses[0]


def _checked_env_address(host: str, port: int, explicit: frozenset[str]) -> str:
    named = host in explicit or f"{host}:{port}" in explicit
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise OutboundRefused(f"refused {host}:{port}: the name does not resolve ({e.strerror})") from None
    addresses = list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))
    for address in addresses:
        ip = ipaddress.ip_address(address)
        kind = _special(ip) or ("private" if ip.is_private else None)
        if kind and not (named or address in explicit or f"{address}:{port}" in explicit):
            raise OutboundRefused(
                f"refused {host}:{port} (a channel URL from the environment): it resolves to {address}, a {kind} "
                f"address; allow it in RUNBOOK_OUTBOUND_ALLOW (e.g. RUNBOOK_OUTBOUND_ALLOW={host}:{port})"
            )
    return addresses[0]


class PinnedAdapter(requests.adapters.HTTPAdapter):
    """A transport that connects only to checked addresses (`checked_address`), keeping the URL's
    host as the Host header and as the TLS server name and certificate name."""

    def __init__(self, allowed: frozenset[str], explicit: frozenset[str] | None = None):
        super().__init__()
        self.allowed, self.explicit = allowed, explicit

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        parts = parse_url(request.url or "")
        host = (parts.host or "").strip("[]").lower()
        port = parts.port or (443 if parts.scheme == "https" else 80)
        request.headers.setdefault("Host", parts.netloc or host)
        request.pinned_address = checked_address(host, port, self.allowed, self.explicit)  # type: ignore[attr-defined]
        return super().send(request, *args, **kwargs)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> Any:
        host_params: Any
        pool_kwargs: Any
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        address = getattr(request, "pinned_address", None)
        if address is not None:
            name = host_params["host"]
            host_params["host"] = address
            if host_params["scheme"] == "https":
                pool_kwargs["server_hostname"] = name
                pool_kwargs["assert_hostname"] = name
        return host_params, pool_kwargs


def pinned_session(
    allowed: frozenset[str], session: requests.Session | None = None, explicit: frozenset[str] | None = None
) -> requests.Session:
    """`session` (or a new one) with every http and https request through a `PinnedAdapter`."""
    session = session or requests.Session()
    adapter = PinnedAdapter(allowed, explicit)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
