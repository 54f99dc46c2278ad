"""Settings of the OPC UA input: how to reach and read the server."""

from __future__ import annotations

from dataclasses import dataclass

from mqtt_bridge.inputs.opcua.nodes import NodeSpec
from mqtt_bridge.settings import check_files, check_url, require

SECURITY_POLICIES = ("None", "Basic256Sha256", "Aes128Sha256RsaOaep", "Aes256Sha256RsaPss")
SECURITY_MODES = ("None", "Sign", "SignAndEncrypt")


@dataclass(frozen=True)
class OpcUaSettings:
    """How to reach and read the OPC UA server."""

    url: str = "opc.tcp://127.0.0.1:4840"
    username: str | None = None
    password: str | None = None
    security_policy: str = "None"  # None, Basic256Sha256, Aes128Sha256RsaOaep, Aes256Sha256RsaPss
    security_mode: str = "None"  # None, Sign, SignAndEncrypt
    certificate: str | None = None  # client certificate (DER or PEM) for a secure channel
    private_key: str | None = None  # its private key (PEM)
    server_certificate: str | None = None  # trust exactly this server certificate
    application_uri: str = "urn:factory-sim:bridge"  # must match the client certificate's URI
    timeout: float = 5.0  # seconds per request
    publishing_interval: float = 100.0  # ms
    sampling_interval: float = 0.0  # ms; 0: report every change (event-driven servers)
    queue_size: int = 1000  # values a server queues per item between publishes (bursts)
    rebrowse_interval: float = 30.0  # seconds between looks for machines added or removed
    scan_objects: bool = True  # also find machines outside Objects/Machines by Identification
    backfill: bool = True  # read gaps from history where the server historizes
    reconnect_min_delay: float = 0.5  # seconds; doubles up to reconnect_max_delay
    reconnect_max_delay: float = 10.0
    # objects bridged besides the machines: the configuration file's [[nodes]] (`nodes.py`)
    nodes: tuple[NodeSpec, ...] = ()

    def __post_init__(self) -> None:
        check_url("opcua", self.url, ("opc.tcp",), "opc.tcp://host:port")
        require(self.security_policy in SECURITY_POLICIES,
                f"opcua security_policy {self.security_policy!r}: expected one of "
                + ", ".join(SECURITY_POLICIES))
        require(self.security_mode in SECURITY_MODES,
                f"opcua security_mode {self.security_mode!r}: expected one of "
                + ", ".join(SECURITY_MODES))
        require((self.security_policy == "None") == (self.security_mode == "None"),
                "opcua security_policy and security_mode: both None, or a policy with "
                "Sign/SignAndEncrypt")
        require(self.security_policy == "None" or bool(self.certificate and self.private_key),
                f"opcua security_policy {self.security_policy}: needs certificate and private_key")
        check_files("opcua", certificate=self.certificate, private_key=self.private_key,
                    server_certificate=self.server_certificate)
        require(self.password is None or self.username is not None,
                "opcua password given without a username")
        for name in ("timeout", "publishing_interval", "rebrowse_interval", "reconnect_min_delay"):
            require(getattr(self, name) > 0, f"opcua {name} {getattr(self, name)!r}: expected > 0")
        require(self.sampling_interval >= 0 and self.queue_size >= 1,
                "opcua sampling_interval must be >= 0 and queue_size >= 1")
        require(self.reconnect_max_delay >= self.reconnect_min_delay,
                "opcua reconnect_max_delay must be >= reconnect_min_delay")
