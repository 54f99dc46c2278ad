"""The unified-namespace dialects a demo's bridges publish (`factory-sim demo --uns NAME`).

The dashboard reads the ISA-95 topics (JSON), so every bridge always publishes them; a dialect
other than `isa95` is published beside them, by the same unchanged `factory-sim bridge`, with
the options its entry gives. A new dialect is one more entry here.

>>> DIALECTS["sparkplug"].bridge_options("reference-opcua", "mqtt://127.0.0.1:1883")
['--sparkplug', 'mqtt://127.0.0.1:1883', '--sparkplug-group', 'factory-sim', \
'--sparkplug-edge-node', 'reference-opcua']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str
    topics: Callable[[str], str]  # where a plant's data appears, for the demo's printout
    bridge_options: Callable[[str, str], list[str]]  # (plant name, broker URL) -> options


SPARKPLUG_GROUP = "factory-sim"

DIALECTS: dict[str, Dialect] = {
    "isa95": Dialect("isa95", lambda plant: f"{plant}/#", lambda plant, url: []),
    "sparkplug": Dialect(
        "sparkplug",
        lambda plant: f"spBv1.0/{SPARKPLUG_GROUP}/+/{plant}/#",
        lambda plant, url: ["--sparkplug", url, "--sparkplug-group", SPARKPLUG_GROUP,
                            "--sparkplug-edge-node", plant]),
    # UMH's topics take no prefix: the plant's name is their originID level
    "umh": Dialect(
        "umh",
        lambda plant: f"umh/v1/+/+/+/+/+/{plant}/#",
        lambda plant, url: ["--umh", url, "--umh-client-id", f"umh-{plant}",
                            "--umh-origin-id", plant]),
}
