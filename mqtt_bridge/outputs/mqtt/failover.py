"""The brokers of a clustered MQTT broker, and when the MQTT sink moves from one to the next.

`mqtt.url` may name several nodes of one cluster, comma-separated
(`mqtt://node-a:1883,mqtt://node-b:1883,mqtt://node-c:1883`); they must route every message
to every node's subscribers, so that a value any node confirmed reaches every subscriber (a
NATS JetStream cluster with MQTT enabled; a RabbitMQ cluster with its MQTT plugin, whose
retained values stay on the node that took them: the sink then finds its status missing on
the new node and republishes the last values, see `sink.py`).

Policy: stay on a node while it works. When a connect fails or a connection is lost, the next
connect goes to the next node in the list at once; only after a whole round of nodes refused
does the sink wait (its reconnect back-off) before the next round. Nothing is lost in the
move: the sink republishes from the journal's first unconfirmed entry, with the `seq` each
entry was journaled with, so a consumer sees at most a duplicate, never a gap or a reused
`seq`.

>>> brokers = BrokerList.parse("mqtt://a:1883, mqtt://b:1883")
>>> brokers.current
'mqtt://a:1883'
>>> brokers.failed(), brokers.current
(False, 'mqtt://b:1883')
>>> brokers.failed(), brokers.current  # a whole round failed: back off before the next
(True, 'mqtt://a:1883')
"""

from __future__ import annotations

from urllib.parse import urlsplit

from mqtt_bridge.settings import check_url, require

SCHEMES = {"mqtt": 1883, "mqtts": 8883}
EXPECTED = "mqtt://host[:port] or mqtts://host[:port], or several of them comma-separated"
MAX_BROKERS = 16  # nodes of one cluster: far above what a cluster of MQTT brokers has


class BrokerList:
    """The broker URLs in order of preference, and the one to connect to next."""

    def __init__(self, urls: tuple[str, ...]) -> None:
        self.urls = urls
        self._index = 0
        self._failures = 0  # consecutive failures since the last good connection

    @classmethod
    def parse(cls, text: str) -> BrokerList:
        """The comma-separated `text` checked URL by URL (SettingsError naming the bad one)."""
        urls = tuple(part.strip() for part in text.split(","))
        require(len(urls) <= MAX_BROKERS,
                f"MQTT url: {len(urls)} brokers; expected at most {MAX_BROKERS}")
        for url in urls:
            check_url("MQTT", url, SCHEMES, EXPECTED)
        require(len({urlsplit(url).scheme for url in urls}) == 1,
                f"MQTT url {text!r}: expected every broker with the same scheme (mqtt or mqtts)")
        require(len(set(urls)) == len(urls), f"MQTT url {text!r}: a broker is named twice")
        return cls(urls)

    @property
    def current(self) -> str:
        return self.urls[self._index]

    def connected(self) -> None:
        """The current broker accepted the connection: stay on it."""
        self._failures = 0

    def failed(self) -> bool:
        """The current broker refused or dropped us: move to the next. True when every broker
        has failed in a row since the last good connection (time to back off)."""
        self._failures += 1
        self._index = (self._index + 1) % len(self.urls)
        if self._failures >= len(self.urls):
            self._failures = 0
            return True
        return False


def host_and_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or SCHEMES[parts.scheme]
