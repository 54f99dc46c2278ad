"""The MQTT broker the dashboard reads: one URL, or the nodes of a clustered broker
comma-separated, tried in turn. The dashboard is a consumer like any other and imports nothing
of the bridge, so it keeps its own (smaller) list: it has nothing to republish, only to
subscribe again on the next node.

>>> nodes = BrokerNodes.parse("mqtt://a:1883, mqtt://b")
>>> nodes.current, nodes.next(), nodes.next()
(('a', 1883), ('b', 1883), ('a', 1883))
>>> BrokerNodes.parse("mqtts://a")
Traceback (most recent call last):
...
ValueError: 'mqtts://a': expected mqtt://HOST[:PORT] (the dashboard speaks no TLS)
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_NODES = 16  # far above what a cluster of MQTT brokers has


class BrokerNodes:
    def __init__(self, nodes: list[tuple[str, int]]) -> None:
        self.nodes = nodes
        self._index = 0

    @classmethod
    def parse(cls, text: str) -> BrokerNodes:
        """ValueError naming the URL that is not mqtt://HOST[:PORT]."""
        urls = [part.strip() for part in text.split(",")]
        if len(urls) > MAX_NODES:
            raise ValueError(f"{len(urls)} brokers; expected at most {MAX_NODES}")
        nodes = []
        for url in urls:
            try:
                parts = urlsplit(url)
                host, port = parts.hostname, parts.port or 1883
            except ValueError:  # a bad port, a malformed IPv6 address
                host = None
            if not host or parts.scheme != "mqtt":
                raise ValueError(f"{url[:200]!r}: expected mqtt://HOST[:PORT] "
                                 "(the dashboard speaks no TLS)")
            nodes.append((host, port))
        return cls(nodes)

    @property
    def current(self) -> tuple[str, int]:
        return self.nodes[self._index]

    def next(self) -> tuple[str, int]:
        """The node to try after the current one failed."""
        self._index = (self._index + 1) % len(self.nodes)
        return self.current
