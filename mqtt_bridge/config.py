"""The bridge's configuration: OPC UA side, sinks, hierarchy, state directory.

Every option can come from four places; the first that sets it wins:

1. the command line (`factory-sim bridge --opcua ...`),
2. the environment: `FACTORY_SIM_BRIDGE_<SECTION>_<KEY>` in upper case, e.g.
   `FACTORY_SIM_BRIDGE_OPCUA_URL`, `FACTORY_SIM_BRIDGE_MQTT_PASSWORD`,
   `FACTORY_SIM_BRIDGE_STATE_DIR` (top-level keys have no section); or the name of a file
   holding the value in the same name with `_FILE` added, e.g.
   `FACTORY_SIM_BRIDGE_INFLUX_TOKEN_FILE=/run/secrets/token` (a secret mounted as a file, as
   Docker and Kubernetes do; one trailing newline is dropped);
3. a config file (`--config FILE` or `FACTORY_SIM_BRIDGE_CONFIG`), TOML or YAML, with the same
   sections and keys (see `mqtt_bridge/bridge.example.toml` and the sample configuration in the
   folder of each input and output);
4. the defaults of the settings dataclasses.

Each settings dataclass validates itself (`mqtt_bridge.settings`); a mistake (unknown key, wrong
type, bad URL, a value out of range) is a `ConfigError` that adds where it came from.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_args, get_type_hints

from bounded_yaml import MAX_BYTES, YamlInputError, read_yaml_file
from mqtt_bridge.inputs.opcua.discovery import Hierarchy
from mqtt_bridge.inputs.opcua.nodes import parse as parse_nodes
from mqtt_bridge.inputs.opcua.settings import OpcUaSettings
from mqtt_bridge.outputs.mqtt.settings import MqttSettings
from mqtt_bridge.outputs.sparkplug.settings import SparkplugSettings
from mqtt_bridge.outputs.timeseries.settings import InfluxSettings
from mqtt_bridge.outputs.umh.settings import UmhSettings
from mqtt_bridge.settings import SettingsError, require

ENV_PREFIX = "FACTORY_SIM_BRIDGE_"
SECRET_FILE_MAX_BYTES = 64 * 1024  # a `..._FILE` value: a password, a token, a path
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(ValueError):
    """A configuration mistake; the message names the option, its origin and what was expected."""


@dataclass(frozen=True)
class BridgeConfig:
    """Everything the bridge needs; an output's settings None when it is not wanted."""

    opcua: OpcUaSettings
    mqtt: MqttSettings | None = None
    influx: InfluxSettings | None = None
    sparkplug: SparkplugSettings | None = None
    umh: UmhSettings | None = None  # United Manufacturing Hub (outputs/umh)
    hierarchy: Hierarchy = field(default_factory=Hierarchy)
    state_dir: Path = Path(".factory-sim-bridge")
    journal_max_items: int = 1_000_000
    log_level: str = "INFO"

    def __post_init__(self) -> None:
        require(self.journal_max_items >= 1,
                f"journal_max_items {self.journal_max_items!r}: expected >= 1")
        require(self.log_level.upper() in LOG_LEVELS,
                f"log_level {self.log_level!r}: expected " + ", ".join(LOG_LEVELS))


SECTIONS: dict[str, type] = {
    "opcua": OpcUaSettings,
    "mqtt": MqttSettings,
    "influx": InfluxSettings,
    "sparkplug": SparkplugSettings,
    "umh": UmhSettings,
    "hierarchy": Hierarchy,
}
TOP_LEVEL = {"state_dir": str, "journal_max_items": int, "log_level": str}
TABLES = ("nodes",)  # arrays of tables, in a configuration file only ([[nodes]])


def read_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A TOML (.toml) or YAML (.yaml/.yml) config file as a dict, read with a size bound
    (and, for YAML, the alias-expansion and depth bounds of `bounded_yaml`)."""
    path = Path(path)
    if path.suffix in (".yaml", ".yml"):
        try:
            data = read_yaml_file(path, "bridge configuration")
        except YamlInputError as exc:
            raise ConfigError(f"config file {exc}") from None
    else:
        data = _read_toml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping of sections at the top level")
    return data


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read it ({exc.strerror})") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"config file {path}: refused: larger than {MAX_BYTES:,} bytes")
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path}: expected a TOML text file (UTF-8)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: not valid TOML: {exc}") from None


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


def _read_value_file(path: str, variable: str) -> tuple[str, str]:
    """The value a `..._FILE` variable points at, and where it came from."""
    where = f"file {path} (environment variable {variable})"
    try:
        with open(path, "rb") as stream:
            data = stream.read(SECRET_FILE_MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it: {exc.strerror}") from None
    if len(data) > SECRET_FILE_MAX_BYTES:
        raise ConfigError(f"{where}: larger than {SECRET_FILE_MAX_BYTES} bytes")
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text") from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise ConfigError(f"{where}: the file is empty")
    return text, where


def _section_values(
    section: str, cls: type, file_data: Mapping[str, Any], env: Mapping[str, str],
    cli: Mapping[str, Any], origin: str,
) -> dict[str, Any]:
    hints = get_type_hints(cls)
    names = [f.name for f in fields(cls) if f.name not in TABLES]
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
        elif f"{env_name}_FILE" in env:
            raw, where = _read_value_file(env[f"{env_name}_FILE"], f"{env_name}_FILE")
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
        if key not in SECTIONS and key not in TOP_LEVEL and key not in TABLES:
            known = ", ".join([*SECTIONS, *TOP_LEVEL, *TABLES])
            raise ConfigError(f"{origin}: unknown section or setting {key!r}; known: {known}")

    built: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        values = _section_values(section, cls, file_data, env, cli, origin)
        if section in ("mqtt", "influx", "sparkplug", "umh") and "url" not in values:
            built[section] = None
            continue
        try:
            built[section] = cls(**values)
        except SettingsError as exc:
            raise ConfigError(f"{origin}: {exc}") from None
    for key, kind in TOP_LEVEL.items():
        env_name = f"{ENV_PREFIX}{key}".upper()
        if cli.get(("", key)) is not None:
            built[key] = _convert(cli[("", key)], kind, f"command line option {key}")
        elif env_name in env:
            built[key] = _convert(env[env_name], kind, f"environment variable {env_name}")
        elif key in file_data:
            built[key] = _convert(file_data[key], kind, f"{origin}: {key}")
    if "nodes" in file_data:  # [[nodes]]: objects bridged besides the machines
        try:
            nodes = parse_nodes(file_data["nodes"], origin)
        except SettingsError as exc:
            raise ConfigError(str(exc)) from None
        built["opcua"] = replace(built["opcua"], nodes=nodes)
    if "state_dir" in built:
        built["state_dir"] = Path(built["state_dir"])
    try:
        return BridgeConfig(**built)
    except SettingsError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
