"""Settings of the time-series output: any InfluxDB 2.x `/api/v2/write` endpoint."""

from __future__ import annotations

from dataclasses import dataclass

from mqtt_bridge.settings import check_files, check_url, require


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
        check_url("time-series", self.url, ("http", "https"),
                  "http://host:port or https://host:port")
        for name in ("org", "bucket"):
            require(bool(getattr(self, name)), f"time-series {name}: must not be empty")
        require(1 <= self.batch_size <= 100_000,
                f"time-series batch_size {self.batch_size!r}: expected 1..100000 lines")
        require(self.flush_interval >= 0 and self.timeout > 0,
                "time-series flush_interval must be >= 0 and timeout > 0")
        require(0 < self.retry_min_delay <= self.retry_max_delay,
                "time-series retry delays: expected 0 < retry_min_delay <= retry_max_delay")
        check_files("time-series", ssl_ca_cert=self.ssl_ca_cert)
