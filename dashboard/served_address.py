"""Only requests addressed to this dashboard: the Host header and the browser's Origin.

A page served under another name (DNS rebinding: `attacker.example` resolving to this
machine) or a socket opened from another site's page would otherwise reach the dashboard with
a class member's browser. `ServedAddressOnly` is plain ASGI middleware, so it covers pages,
the API and NiceGUI's socket.io connection alike; it answers a refused request with 403 and
one line saying why, and a refused socket with a close before it opens.

    >>> allowed_hosts("127.0.0.1")
    ['127.0.0.1', 'localhost', '::1']
"""

from __future__ import annotations

import contextlib
import logging
import socket
from urllib.parse import urlsplit

_logger = logging.getLogger(__name__)
LOOPBACK = ["127.0.0.1", "localhost", "::1"]
WILDCARDS = ("0.0.0.0", "::", "")


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


def _host_and_port(authority: str) -> tuple[str, int | None]:
    try:
        parts = urlsplit(f"//{authority}")
        return (parts.hostname or "").lower(), parts.port
    except ValueError:
        return "", None


class ServedAddressOnly:
    """ASGI middleware: refuse a request whose Host, or Origin if it has one, is not one of
    `hosts` on `port`."""

    def __init__(self, app, hosts: list[str], port: int) -> None:
        self.app, self.hosts, self.port = app, set(hosts), port
        self.refused = 0

    def reason(self, headers: dict[bytes, bytes]) -> str | None:
        """Why the request is refused, None if it is not."""
        host = headers.get(b"host", b"").decode("latin-1")
        name, port = _host_and_port(host)
        if name not in self.hosts or port not in (self.port, None):
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
                    (parts.hostname or "").lower() not in self.hosts or \
                    (origin_port or 80) != self.port:
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
