"""Connection settings of the bridge's sinks (MQTT broker, InfluxDB-compatible time series).

Plain dataclasses, validated when built, so the command line, a config file and environment
variables can all fill them and a mistake is reported as a `SettingsError` naming the field
and what was expected, before anything connects.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


class SettingsError(ValueError):
    """A sink setting is invalid; the message names the setting and what was expected."""


_MQTT_SCHEMES = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True)
class MqttSettings:
    """Where and how to publish the unified namespace.

    >>> MqttSettings(url="mqtts://broker.example:8883", topic_prefix="uns").status_topic
    'uns/_bridge/factory-sim-bridge/status'
    """

    url: str = "mqtt://127.0.0.1:1883"  # mqtt://host[:port] or mqtts://host[:port] (TLS)
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
    # for high rates (PERF-NOTES lever 7: the per-message cost dominates)
    batch: str = "tag"
    # unacknowledged publications per connection; default 20 for tag mode (paho is fastest
    # there: it scans its whole in-flight list on every PUBACK), 200 for machine mode (a
    # round of a hundred machines' messages goes out at once instead of waiting for acks)
    max_inflight: int | None = None
    reconnect_min_delay: float = 0.5  # seconds; doubles up to reconnect_max_delay
    reconnect_max_delay: float = 5.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in _MQTT_SCHEMES or not parts.hostname:
            raise SettingsError(
                f"MQTT url {self.url!r}: expected mqtt://host[:port] or mqtts://host[:port]"
            )
        try:
            parts.port  # noqa: B018 (urlsplit validates the port lazily)
        except ValueError as exc:
            raise SettingsError(f"MQTT url {self.url!r}: {exc}") from None
        if self.qos not in (1, 2):
            raise SettingsError(
                f"MQTT qos {self.qos!r}: expected 1 or 2 (QoS 0 cannot confirm delivery)"
            )
        if not self.client_id or any(c in self.client_id for c in "/+#"):
            raise SettingsError(
                f"MQTT client_id {self.client_id!r}: expected a non-empty name without / + #"
            )
        if any(c in self.topic_prefix for c in "+#\0"):
            raise SettingsError(
                f"MQTT topic_prefix {self.topic_prefix!r}: must not contain + # or NUL"
            )
        if self.password is not None and self.username is None:
            raise SettingsError("MQTT password given without a username")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SettingsError("MQTT tls_cert and tls_key must be given together")
        for name in ("tls_ca", "tls_cert", "tls_key"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise SettingsError(f"MQTT {name}: file {path!r} does not exist")
        if not 5 <= self.keepalive <= 65_535:
            raise SettingsError(f"MQTT keepalive {self.keepalive!r}: expected 5..65535 seconds")
        if self.batch not in ("tag", "machine"):
            raise SettingsError(f"MQTT batch {self.batch!r}: expected tag or machine")
        if self.max_inflight is None:
            object.__setattr__(self, "max_inflight", 20 if self.batch == "tag" else 200)
        if not 1 <= self.max_inflight <= 65_000:
            # MQTT packet ids are 16 bits: the window must leave them unique.
            raise SettingsError(f"MQTT max_inflight {self.max_inflight!r}: expected 1..65000")
        if not 0 < self.reconnect_min_delay <= self.reconnect_max_delay:
            raise SettingsError(
                "MQTT reconnect delays: expected 0 < reconnect_min_delay <= reconnect_max_delay"
            )

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

    @property
    def prefix(self) -> str:
        """The topic prefix with exactly one trailing slash, or "" when there is none."""
        stripped = self.topic_prefix.strip("/")
        return f"{stripped}/" if stripped else ""

    @property
    def status_topic(self) -> str:
        """Retained birth/last-will topic of this bridge: `{prefix}_bridge/{client_id}/status`."""
        return f"{self.prefix}_bridge/{self.client_id}/status"


@dataclass(frozen=True)
class InfluxSettings:
    """Where to write the time series: any InfluxDB 2.x `/api/v2/write` endpoint.

    VictoriaMetrics accepts the same writes (org and bucket are then ignored).
    """

    url: str = "http://127.0.0.1:8086"
    org: str = "factory-sim"
    bucket: str = "factory"
    token: str = ""
    batch_size: int = 5000  # lines per write request
    flush_interval: float = 0.2  # seconds to wait for a batch to fill before writing it
    timeout: float = 10.0  # seconds per write request
    verify_ssl: bool = True
    ssl_ca_cert: str | None = None
    retry_min_delay: float = 0.2  # seconds; doubles up to retry_max_delay while writes fail
    retry_max_delay: float = 5.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(
                f"time-series url {self.url!r}: expected http://host:port or https://host:port"
            )
        try:
            parts.port  # noqa: B018
        except ValueError as exc:
            raise SettingsError(f"time-series url {self.url!r}: {exc}") from None
        for name in ("org", "bucket"):
            if not getattr(self, name):
                raise SettingsError(f"time-series {name}: must not be empty")
        if not 1 <= self.batch_size <= 100_000:
            raise SettingsError(
                f"time-series batch_size {self.batch_size!r}: expected 1..100000 lines"
            )
        if self.flush_interval < 0 or self.timeout <= 0:
            raise SettingsError("time-series flush_interval must be >= 0 and timeout > 0")
        if not 0 < self.retry_min_delay <= self.retry_max_delay:
            raise SettingsError(
                "time-series retry delays: expected 0 < retry_min_delay <= retry_max_delay"
            )
        if self.ssl_ca_cert is not None and not Path(self.ssl_ca_cert).is_file():
            raise SettingsError(
                f"time-series ssl_ca_cert: file {self.ssl_ca_cert!r} does not exist"
            )
