"""Only requests addressed to this dashboard: the Host header and the browser's Origin.

A page served under another name (DNS rebinding: `attacker.example` resolving to this
machine) or a socket opened from another site's page would otherwise reach the dashboard with
a class member's browser. `ServedAddressOnly` is plain ASGI middleware, so it covers pages,
the API and NiceGUI's socket.io connection alike; it answers a refused request with 403 and
one line saying why, and a refused socket with a close before it opens.

Served behind a name (a reverse proxy, a container whose port is published as another), the
browser uses an address the dashboard cannot know: `--allowed-host NAME[:PORT]` adds it (any
port when none is given).

    >>> allowed_hosts("127.0.0.1")
    ['127.0.0.1', 'localhost', '::1']
    >>> allowed_host("Factory.example:18080")
    ('factory.example', 18080)
    >>> allowed_host("attacker.example/x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 'attacker.example/x': expected NAME or NAME:PORT (...)
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import re
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

_logger = logging.getLogger(__name__)
LOOPBACK = ["127.0.0.1", "localhost", "::1"]
WILDCARDS = ("0.0.0.0", "::", "")
MAX_ALLOWED_HOSTS = 32
_HOST_NAME = re.compile(r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
                        r"(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses that others on the LAN can reach (no packet is sent)."""
    found: list[str] = []
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.connect(("10.255.255.255", 1))  # a UDP connect only picks the outgoing interface
        found.append(udp.getsockname()[0])
    with contextlib.suppress(OSError):
        for *_, address in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.append(address[0])
    return [a for a in dict.fromkeys(found) if not a.startswith("127.")]


def allowed_hosts(host: str) -> list[str]:
    """The names a browser may use for a dashboard listening on `host`."""
    if host in WILDCARDS:
        names = [*LOOPBACK, *lan_addresses(), socket.gethostname().lower()]
    elif host in LOOPBACK:
        names = list(LOOPBACK)
    else:
        names = [host.lower()]
    return list(dict.fromkeys(names))


def allowed_host(text: str) -> tuple[str, int | None]:
    """`NAME` or `NAME:PORT` as given to `--allowed-host`: (name in lower case, port or None
    for any). Raises ValueError with a one-line reason for anything else (a path, a scheme,
    a wildcard, a bad port)."""
    problem = (f"{text[:80]!r}: expected NAME or NAME:PORT (a host name, an IPv4 address or "
               "[an IPv6 address]; port 1..65535)")
    if not 0 < len(text) <= 300 or any(c in text for c in "/?#@ *\\") or "://" in text:
        raise ValueError(problem)
    try:
        parts = urlsplit(f"//{text}")
        name, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        raise ValueError(problem) from None
    if port == 0 or not name:
        raise ValueError(problem)
    if not _HOST_NAME.fullmatch(name):
        try:
            ipaddress.ip_address(name)
        except ValueError:
            raise ValueError(problem) from None
    return name, port


def _host_and_port(authority: str) -> tuple[str, int | None]:
    try:
        parts = urlsplit(f"//{authority}")
        return (parts.hostname or "").lower(), parts.port
    except ValueError:
        return "", None


class ServedAddressOnly:
    """ASGI middleware: refuse a request whose Host, or Origin if it has one, is not one of
    `hosts` on `port`, nor one of `also` (`--allowed-host` values, `allowed_host`)."""

    def __init__(self, app, hosts: list[str], port: int,
                 also: Iterable[tuple[str, int | None]] = ()) -> None:
        self.app, self.hosts, self.port = app, set(hosts), port
        self.also: dict[str, set[int | None]] = {}
        for name, also_port in also:
            self.also.setdefault(name, set()).add(also_port)
        self.refused = 0

    def _serves(self, name: str, port: int | None, default_port: int | None) -> bool:
        """`port`: as the header gives it (None: the scheme's `default_port`)."""
        if name in self.hosts and (port or default_port) in (self.port, None):
            return True
        ports = self.also.get(name, set())
        if port is None and default_port is None:  # a Host without a port: 80 or 443
            return None in ports or bool(ports & {80, 443})
        return None in ports or (port or default_port) in ports

    def reason(self, headers: dict[bytes, bytes]) -> str | None:
        """Why the request is refused, None if it is not."""
        host = headers.get(b"host", b"").decode("latin-1")
        name, port = _host_and_port(host)
        if not name or not self._serves(name, port, None):
            return f"Host {host[:80]!r} is not an address this dashboard serves"
        origin = headers.get(b"origin")
        if origin is not None:
            text = origin.decode("latin-1")
            parts = urlsplit(text) if text != "null" else None
            try:
                origin_port = parts.port if parts else None
            except ValueError:
                parts = None
            if parts is None or parts.scheme not in ("http", "https") or \
                    not self._serves((parts.hostname or "").lower(), origin_port,
                                     443 if parts.scheme == "https" else 80):
                return f"Origin {text[:80]!r} is not this dashboard's page"
        return None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        reason = self.reason(dict(scope.get("headers") or ()))
        if reason is None:
            await self.app(scope, receive, send)
            return
        self.refused += 1
        _logger.warning("refused %s %s: %s", scope["type"], scope.get("path", "")[:80], reason)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = f"refused: {reason}\n".encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
