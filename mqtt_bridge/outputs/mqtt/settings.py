"""Settings of the MQTT output: where and how to publish the unified namespace."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from mqtt_bridge.outputs.mqtt.failover import SCHEMES as _MQTT_SCHEMES
from mqtt_bridge.outputs.mqtt.failover import BrokerList
from mqtt_bridge.settings import check_files, require


@dataclass(frozen=True)
class MqttSettings:
    """Where and how to publish the unified namespace.

    >>> MqttSettings(url="mqtts://broker.example:8883", topic_prefix="uns").status_topic
    'uns/_bridge/factory-sim-bridge/status'
    """

    # mqtt://host[:port] or mqtts://host[:port] (TLS); the nodes of a clustered broker
    # comma-separated, tried in turn when one fails (mqtt_bridge/outputs/mqtt/failover.py)
    url: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: str | None = None
    tls_ca: str | None = None  # CA file to verify the broker; None: the system's CAs
    tls_cert: str | None = None  # client certificate (mutual TLS)
    tls_key: str | None = None  # the client certificate's private key
    client_id: str = "factory-sim-bridge"  # also names the bridge in its status topic
    topic_prefix: str = ""  # put in front of every topic, e.g. "uns" -> "uns/acme/..."
    qos: int = 1
    keepalive: int = 30  # seconds
    # "tag": one message per tag update on the tag's own topic, retained (the UNS tree);
    # "machine": one message per machine and delivery round on {cell}/updates, not retained,
    # for high rates (docs/performance.md: the per-message cost dominates)
    batch: str = "tag"
    # unacknowledged publications per connection; default 20 for tag mode (paho is fastest
    # there: it scans its whole in-flight list on every PUBACK), 200 for machine mode (a
    # round of a hundred machines' messages goes out at once instead of waiting for acks)
    max_inflight: int | None = None
    reconnect_min_delay: float = 0.5  # seconds; doubles up to reconnect_max_delay
    reconnect_max_delay: float = 5.0

    def __post_init__(self) -> None:
        BrokerList.parse(self.url)
        require(self.qos in (1, 2),
                f"MQTT qos {self.qos!r}: expected 1 or 2 (QoS 0 cannot confirm delivery)")
        require(bool(self.client_id) and not any(c in self.client_id for c in "/+#"),
                f"MQTT client_id {self.client_id!r}: expected a non-empty name without / + #")
        require(not any(c in self.topic_prefix for c in "+#\0"),
                f"MQTT topic_prefix {self.topic_prefix!r}: must not contain + # or NUL")
        require(self.password is None or self.username is not None,
                "MQTT password given without a username")
        require((self.tls_cert is None) == (self.tls_key is None),
                "MQTT tls_cert and tls_key must be given together")
        check_files("MQTT", tls_ca=self.tls_ca, tls_cert=self.tls_cert, tls_key=self.tls_key)
        require(5 <= self.keepalive <= 65_535,
                f"MQTT keepalive {self.keepalive!r}: expected 5..65535 seconds")
        require(self.batch in ("tag", "machine"),
                f"MQTT batch {self.batch!r}: expected tag or machine")
        if self.max_inflight is None:
            object.__setattr__(self, "max_inflight", 20 if self.batch == "tag" else 200)
        # MQTT packet ids are 16 bits: the window must leave them unique.
        require(1 <= self.max_inflight <= 65_000,
                f"MQTT max_inflight {self.max_inflight!r}: expected 1..65000")
        require(0 < self.reconnect_min_delay <= self.reconnect_max_delay,
                "MQTT reconnect delays: expected 0 < reconnect_min_delay <= reconnect_max_delay")

    @property
    def brokers(self) -> BrokerList:
        """The brokers of `url`, the first one current."""
        return BrokerList.parse(self.url)

    @property
    def host(self) -> str:  # of the first broker
        return urlsplit(self.brokers.current).hostname or ""

    @property
    def port(self) -> int:  # of the first broker
        parts = urlsplit(self.brokers.current)
        return parts.port or _MQTT_SCHEMES[parts.scheme]

    @property
    def tls(self) -> bool:
        return urlsplit(self.brokers.current).scheme == "mqtts"

    @property
    def prefix(self) -> str:
        """The topic prefix with exactly one trailing slash, or "" when there is none."""
        stripped = self.topic_prefix.strip("/")
        return f"{stripped}/" if stripped else ""

    @property
    def status_topic(self) -> str:
        """Retained birth/last-will topic of this bridge: `{prefix}_bridge/{client_id}/status`."""
        return f"{self.prefix}_bridge/{self.client_id}/status"


