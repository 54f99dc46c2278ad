"""UMH topic names: where a bridged item goes in United Manufacturing Hub's unified namespace.

    umh/v1/<enterprise>/<site>/<area>/<line>/<workCell>[/<originID>]/<_contract>/<path...>

The location levels come from the bridge's ISA-95 levels (`MachinePath`: enterprise, site,
area, line, cell as the work cell), the origin ID from the settings. UMH's topic rules (its
Kafka topic regex and UMH Core's topic convention): a location level is not empty, holds only
`[a-zA-Z0-9_-]` (a dot would split it in two on Kafka, where `/` becomes `.`) and does not
start with `_` (a level starting with `_` is a data contract). Levels after the contract hold
`[a-zA-Z0-9_-]` and do not start with `_` either.

Names from the OPC UA server are *sanitised*, never rejected (a browse name is what it is):
every other character becomes `_`, a name starting with `_` gets an `x` in front, one ending
in `-` an `_` behind (UMH's own consumer wants a tag to end in a letter, digit or `_`), and an
empty name is `x`; two names that differ only there share a topic. Names from the
configuration (`origin_id`) are *checked* instead: `check_level` says what is wrong at
start-up.

>>> location(MachinePath("acme", "plant 1", "forming", "line.1", "_press", "PressBrakeType"))
'umh/v1/acme/plant_1/forming/line_1/x_press'
>>> path_levels("Components.Laser")
('Components', 'Laser')
"""

from __future__ import annotations

import functools
import re

from mqtt_bridge.sample import MachinePath
from mqtt_bridge.settings import require

ROOT = "umh/v1"
_LEVEL = re.compile(r"[A-Za-z0-9_-]+")
_OTHER = re.compile(r"[^A-Za-z0-9_-]")


@functools.lru_cache(maxsize=65_536)
def level(name: str) -> str:
    """A name as one topic level under UMH's rules (see the module docstring)."""
    text = _OTHER.sub("_", name) or "x"
    if text[0] == "_":
        text = "x" + text
    return text + "_" if text[-1] == "-" else text


def check_level(what: str, name: str) -> None:
    """A configured level must already follow UMH's rules: raise `SettingsError` if not."""
    require(bool(_LEVEL.fullmatch(name)) and not name.startswith("_"),
            f"UMH {what} {name!r}: expected letters, digits, '-' and '_' only, not starting "
            "with '_' (UMH's topic rules)")


@functools.lru_cache(maxsize=4096)
def location(machine: MachinePath, origin_id: str = "") -> str:
    """`umh/v1/<enterprise>/<site>/<area>/<line>/<workCell>[/<originID>]`."""
    levels = [machine.enterprise, machine.site, machine.area, machine.line, machine.cell]
    if origin_id:
        levels.append(origin_id)
    return "/".join((ROOT, *(level(name) for name in levels)))


@functools.lru_cache(maxsize=65_536)
def path_levels(group: str) -> tuple[str, ...]:
    """A bridge group (`Components.Laser`: child objects joined by ".") as topic levels."""
    return tuple(level(part) for part in group.split(".") if part) or ("-",)
