"""Any node bridged: objects and variables outside Machinery machines, by configuration.

Machines are found by browsing (`discovery.py`); what a server keeps elsewhere (a plant's
KPIs, shift reports, utilities) is named in the bridge configuration, one `[[nodes]]` table
per object or variable, like Telegraf's `[[inputs.opcua.nodes]]` / `[[inputs.opcua.group]]`
and UMH's OPC UA input `nodeIDs` (see docs/integrators/bridge-nodes.md):

    [[nodes]]
    browse_path = "Plant/Kpi"   # below Objects: BrowseNames joined by "/" ("3:Kpi": namespace 3)
    # node_id = "ns=3;s=Plant/Kpi"          # or the NodeId; one of the two
    topic = "plant-1/plant"     # 1-4 levels below the enterprise, the ISA-95 levels
                                # site/area/line/cell right-aligned; those not given come from
                                # [hierarchy]
    group = "kpi"               # the group of the variables directly on the node (default
                                # "values"); variables below child objects are grouped by
                                # those objects' names, as in a machine

Each configured node is bridged exactly like a machine (`NodeRef` becomes a `MachineRef`): its
variables are browsed, subscribed, backfilled from history, numbered per topic in the journal,
and named by gap records where changes are lost (the same no-loss rules). A node not found is
a warning, looked for again at every rebrowse.

>>> spec = NodeSpec(topic="plant-1/plant", browse_path="Plant/Kpi", group="kpi")
>>> spec.path(Hierarchy(enterprise="factory", site="s", area="a", line="l")).topic("kpi", "OEE")
'factory/s/a/plant-1/plant/kpi/OEE'
>>> NodeSpec(topic="x", browse_path="A", node_id="ns=2;i=5")
Traceback (most recent call last):
...
mqtt_bridge.settings.SettingsError: nodes: give browse_path or node_id, not both (topic 'x')
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from asyncua import Client, ua

from mqtt_bridge.inputs.opcua.discovery import (
    MACHINE_GROUP,
    Hierarchy,
    MachineRef,
    browse_many,
    topic_segment,
)
from mqtt_bridge.sample import MachinePath
from mqtt_bridge.settings import SettingsError, require

log = logging.getLogger(__name__)

MAX_NODES = 1000  # [[nodes]] tables, at most
MAX_PATH = 16  # BrowseNames in one browse_path, at most
KEYS = ("browse_path", "node_id", "topic", "group")
BASE_OBJECT_TYPE = ua.NodeId(ua.ObjectIds.BaseObjectType)


@dataclass(frozen=True)
class NodeSpec:
    """One `[[nodes]]` table: which node (browse path or NodeId) under which topic."""

    topic: str
    browse_path: str = ""
    node_id: str = ""
    group: str = "values"

    def __post_init__(self) -> None:
        where = f"(topic {self.topic!r})"
        require(bool(self.browse_path) != bool(self.node_id),
                f"nodes: give browse_path or node_id, not both {where}" if self.browse_path
                else f"nodes: give browse_path or node_id {where}")
        levels = self.topic.split("/")
        require(1 <= len(levels) <= 4 and all(level.strip() for level in levels),
                f"nodes: topic {self.topic!r}: expected 1 to 4 levels, e.g. 'plant-1/plant'")
        require(len(self.browse_path.split("/")) <= MAX_PATH,
                f"nodes: browse_path {self.browse_path!r}: more than {MAX_PATH} names")
        require(bool(self.group.strip()), f"nodes: group of {where} is empty")
        if self.node_id:
            try:
                ua.NodeId.from_string(self.node_id)
            except (ValueError, ua.UaStringParsingError) as exc:
                raise SettingsError(f"nodes: node_id {self.node_id!r}: {exc}") from None

    def path(self, hierarchy: Hierarchy) -> MachinePath:
        """Where its values go: the topic's levels right-aligned over site/area/line/cell."""
        levels = [hierarchy.site, hierarchy.area, hierarchy.line, ""]
        given = [level.strip() for level in self.topic.split("/")]
        levels[4 - len(given):] = given
        return MachinePath(*(topic_segment(n) for n in (hierarchy.enterprise, *levels)),
                           cell_type="BaseObjectType")


def parse(raw: object, origin: str) -> tuple[NodeSpec, ...]:
    """The `[[nodes]]` tables of a configuration file, checked; a mistake is one line."""
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise SettingsError(f"{origin}: [[nodes]] must be tables (one per node)")
    if len(raw) > MAX_NODES:
        raise SettingsError(f"{origin}: more than {MAX_NODES} [[nodes]] tables")
    specs = []
    for index, table in enumerate(raw, 1):
        unknown = sorted(set(table) - set(KEYS))
        if unknown:
            raise SettingsError(f"{origin}: [[nodes]] table {index}: unknown key "
                                f"{unknown[0]!r}; known: {', '.join(KEYS)}")
        if not all(isinstance(v, str) for v in table.values()):
            raise SettingsError(f"{origin}: [[nodes]] table {index}: every value is text")
        if "topic" not in table:
            raise SettingsError(f"{origin}: [[nodes]] table {index}: topic is missing")
        try:
            specs.append(NodeSpec(**table))
        except SettingsError as exc:
            raise SettingsError(f"{origin}: [[nodes]] table {index}: {exc}") from None
    return tuple(specs)


@dataclass(frozen=True)
class NodeRef:
    """A configured node found on the server."""

    ref: MachineRef
    spec: NodeSpec


async def resolve(client: Client, specs: tuple[NodeSpec, ...]) -> list[NodeRef]:
    """The configured nodes the server has; a warning for each it has not (yet)."""
    found: list[NodeRef] = []
    for spec in specs:
        try:
            ref = await (_by_id(client, spec) if spec.node_id else _by_path(client, spec))
        except ua.UaError as exc:
            log.warning("configured node %s: %s", spec.node_id or spec.browse_path, exc)
            ref = None
        if ref is None:
            log.warning("configured node %s not found on the server (yet): looked for again "
                        "at the next rebrowse", spec.node_id or spec.browse_path)
            continue
        found.append(NodeRef(ref, spec))
    return found


async def _by_path(client: Client, spec: NodeSpec) -> MachineRef | None:
    current = ua.NodeId(ua.ObjectIds.ObjectsFolder)
    found: Any = None
    for step in spec.browse_path.split("/"):
        ns, _, name = step.rpartition(":")
        (refs,) = await browse_many(client, [current])
        found = next((r for r in refs if r.BrowseName.Name == name and (
            not ns or str(r.BrowseName.NamespaceIndex) == ns)), None)
        if found is None:
            return None
        current = ua.NodeId(found.NodeId.Identifier, found.NodeId.NamespaceIndex)
    type_id = (ua.NodeId(found.TypeDefinition.Identifier, found.TypeDefinition.NamespaceIndex)
               if found.TypeDefinition is not None and not found.TypeDefinition.is_null()
               else BASE_OBJECT_TYPE)
    return MachineRef(current, spec.browse_path, type_id)


async def _by_id(client: Client, spec: NodeSpec) -> MachineRef | None:
    node_id = ua.NodeId.from_string(spec.node_id)
    name = await client.get_node(node_id).read_browse_name()
    return MachineRef(node_id, name.Name, BASE_OBJECT_TYPE)


def group_of(spec: NodeSpec, group: str) -> str:
    """The group of a variable of the node: `spec.group` for those directly on it."""
    return topic_segment(spec.group) if group == MACHINE_GROUP else group
