"""Settings of the Sparkplug B output: which broker, and the names of the edge node.

>>> s = SparkplugSettings(url="mqtt://127.0.0.1:1883", group_id="acme", edge_node_id="bridge1")
>>> s.topic("NBIRTH"), s.topic("DDATA", "acme:plant1:forming:line1:press1")
('spBv1.0/acme/NBIRTH/bridge1', 'spBv1.0/acme/DDATA/bridge1/acme:plant1:forming:line1:press1')
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from mqtt_bridge.settings import check_files, check_url, require

NAMESPACE = "spBv1.0"
_MQTT_SCHEMES = {"mqtt": 1883, "mqtts": 8883}
_RESERVED = "+/#"  # not allowed in a group, edge node or host id (the spec's topic rules)
MAX_ID_LENGTH = 200


def _check_id(what: str, value: str) -> None:
    require(bool(value) and len(value) <= MAX_ID_LENGTH
            and not any(c in value for c in _RESERVED + "\0"),
            f"Sparkplug {what} {value!r}: expected 1..{MAX_ID_LENGTH} characters without + / # NUL")


@dataclass(frozen=True)
class SparkplugSettings:
    """Where the edge node publishes and what it is called; validated when built."""

    url: str = "mqtt://127.0.0.1:1883"  # mqtt://host[:port] or mqtts://host[:port] (TLS)
    username: str | None = None
    password: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    group_id: str = "factory-sim"  # the Sparkplug group of the edge node
    edge_node_id: str = "factory-sim-bridge"  # one edge node per bridge: unique in the group
    client_id: str = ""  # MQTT client id; "" -> "{group_id}-{edge_node_id}-spb"
    # the primary host application's id: when set, the edge node publishes its births only
    # while spBv1.0/STATE/{primary_host_id} says the host is online
    primary_host_id: str | None = None
    keepalive: int = 30  # seconds
    max_metrics: int = 500  # metrics per DDATA message at most
    reconnect_min_delay: float = 0.5  # seconds; doubles up to reconnect_max_delay
    reconnect_max_delay: float = 5.0

    def __post_init__(self) -> None:
        check_url("Sparkplug", self.url, _MQTT_SCHEMES,
                  "mqtt://host[:port] or mqtts://host[:port]")
        _check_id("group_id", self.group_id)
        _check_id("edge_node_id", self.edge_node_id)
        if self.primary_host_id is not None:
            _check_id("primary_host_id", self.primary_host_id)
        if not self.client_id:
            object.__setattr__(self, "client_id", f"{self.group_id}-{self.edge_node_id}-spb")
        require(len(self.client_id) <= 256 and not any(c in self.client_id for c in "/+#\0"),
                f"Sparkplug client_id {self.client_id!r}: expected a name without / + # NUL")
        require(self.password is None or self.username is not None,
                "Sparkplug password given without a username")
        require((self.tls_cert is None) == (self.tls_key is None),
                "Sparkplug tls_cert and tls_key must be given together")
        check_files("Sparkplug", tls_ca=self.tls_ca, tls_cert=self.tls_cert,
                    tls_key=self.tls_key)
        require(5 <= self.keepalive <= 65_535,
                f"Sparkplug keepalive {self.keepalive!r}: expected 5..65535 seconds")
        require(1 <= self.max_metrics <= 10_000,
                f"Sparkplug max_metrics {self.max_metrics!r}: expected 1..10000")
        require(0 < self.reconnect_min_delay <= self.reconnect_max_delay,
                "Sparkplug reconnect delays: expected 0 < reconnect_min_delay <= "
                "reconnect_max_delay")

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or _MQTT_SCHEMES[parts.scheme]

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts"

    def topic(self, message_type: str, device_id: str | None = None) -> str:
        """`spBv1.0/{group_id}/{message_type}/{edge_node_id}[/{device_id}]`."""
        base = f"{NAMESPACE}/{self.group_id}/{message_type}/{self.edge_node_id}"
        return base if device_id is None else f"{base}/{device_id}"

    @property
    def state_topic(self) -> str | None:
        """The primary host's STATE topic (Sparkplug 3.0), or None when no host is awaited."""
        if self.primary_host_id is None:
            return None
        return f"{NAMESPACE}/STATE/{self.primary_host_id}"

    @property
    def confirm_topic(self) -> str:
        """Outside the Sparkplug namespace: the QoS 1 marker whose PUBACK confirms the QoS 0
        Sparkplug messages published before it on the same connection (README: delivery)."""
        return f"_bridge/{self.client_id}/sparkplug-confirm"
