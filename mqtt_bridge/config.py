"""The bridge's configuration: OPC UA side, sinks, hierarchy, state directory.

Every option can come from four places; the first that sets it wins:

1. the command line (`factory-sim bridge --opcua ...`),
2. the environment: `FACTORY_SIM_BRIDGE_<SECTION>_<KEY>` in upper case, e.g.
   `FACTORY_SIM_BRIDGE_OPCUA_URL`, `FACTORY_SIM_BRIDGE_MQTT_PASSWORD`,
   `FACTORY_SIM_BRIDGE_STATE_DIR` (top-level keys have no section);
3. a config file (`--config FILE` or `FACTORY_SIM_BRIDGE_CONFIG`), TOML or YAML, with the same
   sections and keys (see `mqtt_bridge/bridge.example.toml`);
4. the defaults below.

A mistake (unknown key, wrong type, bad URL) is a `ConfigError` naming where it came from.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_type_hints
from urllib.parse import urlsplit

import yaml

from mqtt_bridge.discovery import Hierarchy
from mqtt_bridge.settings import InfluxSettings, MqttSettings, SettingsError

ENV_PREFIX = "FACTORY_SIM_BRIDGE_"
SECURITY_POLICIES = ("None", "Basic256Sha256", "Aes128Sha256RsaOaep", "Aes256Sha256RsaPss")
SECURITY_MODES = ("None", "Sign", "SignAndEncrypt")


class ConfigError(ValueError):
    """A configuration mistake; the message names the option, its origin and what was expected."""


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

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme != "opc.tcp" or not parts.hostname:
            raise ConfigError(f"opcua url {self.url!r}: expected opc.tcp://host:port")
        try:
            parts.port  # noqa: B018 (validated lazily)
        except ValueError as exc:
            raise ConfigError(f"opcua url {self.url!r}: {exc}") from None
        if self.security_policy not in SECURITY_POLICIES:
            raise ConfigError(
                f"opcua security_policy {self.security_policy!r}: expected one of "
                + ", ".join(SECURITY_POLICIES)
            )
        if self.security_mode not in SECURITY_MODES:
            raise ConfigError(
                f"opcua security_mode {self.security_mode!r}: expected one of "
                + ", ".join(SECURITY_MODES)
            )
        if (self.security_policy == "None") != (self.security_mode == "None"):
            raise ConfigError(
                "opcua security_policy and security_mode: both None, or a policy with "
                "Sign/SignAndEncrypt"
            )
        if self.security_policy != "None" and not (self.certificate and self.private_key):
            raise ConfigError(
                f"opcua security_policy {self.security_policy}: needs certificate and private_key"
            )
        for name in ("certificate", "private_key", "server_certificate"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"opcua {name}: file {path!r} does not exist")
        if self.password is not None and self.username is None:
            raise ConfigError("opcua password given without a username")
        for name in ("timeout", "publishing_interval", "rebrowse_interval", "reconnect_min_delay"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"opcua {name} {getattr(self, name)!r}: expected > 0")
        if self.sampling_interval < 0 or self.queue_size < 1:
            raise ConfigError("opcua sampling_interval must be >= 0 and queue_size >= 1")
        if self.reconnect_max_delay < self.reconnect_min_delay:
            raise ConfigError("opcua reconnect_max_delay must be >= reconnect_min_delay")


@dataclass(frozen=True)
class BridgeConfig:
    """Everything the bridge needs; `mqtt`/`influx` None when that sink is not wanted."""

    opcua: OpcUaSettings
    mqtt: MqttSettings | None = None
    influx: InfluxSettings | None = None
    hierarchy: Hierarchy = field(default_factory=Hierarchy)
    state_dir: Path = Path(".factory-sim-bridge")
    journal_max_items: int = 1_000_000
    log_level: str = "INFO"


SECTIONS: dict[str, type] = {
    "opcua": OpcUaSettings,
    "mqtt": MqttSettings,
    "influx": InfluxSettings,
    "hierarchy": Hierarchy,
}
TOP_LEVEL = {"state_dir": str, "journal_max_items": int, "log_level": str}


def read_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A TOML (.toml) or YAML (.yaml/.yml) config file as a dict."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read it ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        kind = "YAML" if path.suffix in (".yaml", ".yml") else "TOML"
        raise ConfigError(f"config file {path}: not valid {kind}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping of sections at the top level")
    return data


def _convert(value: Any, kind: Any, where: str) -> Any:
    """Coerce a file/env/CLI value to the field's type; env values arrive as strings."""
    args = get_args(kind)
    base = next((a for a in args if a is not type(None)), kind) if args else kind
    if value is None:
        if type(None) in args:
            return None
        raise ConfigError(f"{where}: must not be empty")
    try:
        if base is bool:
            if isinstance(value, bool):
                return value
            text = str(value).lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(value, bool | dict | list):
            raise ValueError
        if base is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if base is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {value!r} is not a valid {base.__name__}") from None


def _section_values(
    section: str, cls: type, file_data: Mapping[str, Any], env: Mapping[str, str],
    cli: Mapping[str, Any], origin: str,
) -> dict[str, Any]:
    hints = get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    from_file = file_data.get(section) or {}
    if not isinstance(from_file, dict):
        raise ConfigError(f"{origin}: [{section}] must be a table of settings")
    for key in from_file:
        if key not in names:
            raise ConfigError(
                f"{origin}: unknown setting {section}.{key}; known: {', '.join(names)}"
            )
    values: dict[str, Any] = {}
    for name in names:
        env_name = f"{ENV_PREFIX}{section}_{name}".upper()
        if (section, name) in cli and cli[(section, name)] is not None:
            raw, where = cli[(section, name)], f"command line option for {section}.{name}"
        elif env_name in env:
            raw, where = env[env_name], f"environment variable {env_name}"
        elif name in from_file:
            raw, where = from_file[name], f"{origin}: {section}.{name}"
        else:
            continue
        values[name] = _convert(raw, hints[name], where)
    return values


def load(
    cli: Mapping[tuple[str, str], Any] | None = None,
    config_file: str | None = None,
    env: Mapping[str, str] | None = None,
) -> BridgeConfig:
    """Merge CLI > env > file > defaults. `cli` maps (section, key) to a value or None, with
    section "" for top-level keys. A sink is enabled when its url is set anywhere."""
    cli = dict(cli or {})
    env = os.environ if env is None else env
    config_file = config_file or env.get(f"{ENV_PREFIX}CONFIG")
    file_data = read_file(config_file) if config_file else {}
    origin = f"config file {config_file}" if config_file else "configuration"
    for key in file_data:
        if key not in SECTIONS and key not in TOP_LEVEL:
            known = ", ".join([*SECTIONS, *TOP_LEVEL])
            raise ConfigError(f"{origin}: unknown section or setting {key!r}; known: {known}")

    built: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        values = _section_values(section, cls, file_data, env, cli, origin)
        if section in ("mqtt", "influx") and "url" not in values:
            built[section] = None
            continue
        try:
            built[section] = cls(**values)
        except (SettingsError, ConfigError) as exc:
            raise ConfigError(f"{origin}: {exc}") from None
    for key, kind in TOP_LEVEL.items():
        env_name = f"{ENV_PREFIX}{key}".upper()
        if cli.get(("", key)) is not None:
            built[key] = _convert(cli[("", key)], kind, f"command line option {key}")
        elif env_name in env:
            built[key] = _convert(env[env_name], kind, f"environment variable {env_name}")
        elif key in file_data:
            built[key] = _convert(file_data[key], kind, f"{origin}: {key}")
    if "state_dir" in built:
        built["state_dir"] = Path(built["state_dir"])
    if built.get("journal_max_items", 1) < 1:
        raise ConfigError("journal_max_items: expected >= 1")
    return BridgeConfig(**built)
