"""How every part of the bridge validates its settings: one way, in one place.

Each input and output has a frozen dataclass of settings (`inputs/opcua/settings.py`,
`outputs/mqtt/settings.py`, `outputs/timeseries/settings.py`) that checks itself when built, in
`__post_init__`, with the helpers below, and raises `SettingsError` naming the setting and what
was expected. The command line, a config file and environment variables all fill the same
dataclasses (`mqtt_bridge.config`), which adds where a wrong value came from.

>>> require(1 <= 0, "MQTT qos 0: expected 1 or 2")
Traceback (most recent call last):
...
mqtt_bridge.settings.SettingsError: MQTT qos 0: expected 1 or 2
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import SplitResult, urlsplit


class SettingsError(ValueError):
    """A setting is invalid; the message names the setting and what was expected."""


def require(condition: bool, message: str) -> None:
    """Raise `SettingsError(message)` unless `condition` holds."""
    if not condition:
        raise SettingsError(message)


def check_url(what: str, url: str, schemes: tuple[str, ...] | dict[str, int],
              expected: str) -> SplitResult:
    """`url` split, if its scheme is one of `schemes` with a host and a valid port."""
    try:
        parts = urlsplit(url)  # a malformed IPv6 address ("[::1") fails here
        parts.port  # noqa: B018 (urlsplit validates the port lazily)
        hostname = parts.hostname
    except ValueError as exc:
        raise SettingsError(f"{what} url {url!r}: {exc}; expected {expected}") from None
    require(parts.scheme in schemes and bool(hostname), f"{what} url {url!r}: expected {expected}")
    return parts


def check_files(what: str, **paths: str | None) -> None:
    """Each given path, where set, names an existing file."""
    for name, path in paths.items():
        require(path is None or Path(path).is_file(),
                f"{what} {name}: file {path!r} does not exist")
