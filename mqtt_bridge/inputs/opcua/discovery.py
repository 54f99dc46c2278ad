"""Find the machines of any OPC UA server by browsing, per OPC 40001-1 (OPC UA Machinery).

A machine is
  * an object referenced by the `Machines` folder (Machinery namespace, i=1001), folders
    excluded, or
  * any object below `Objects` that has an `Identification` component whose type is
    MachineIdentificationType (Machinery i=1012) or a subtype of it.
A server whose NamespaceArray lacks the Machinery namespace has no machines: `NoMachineryError`.

Each machine's variables are found by browsing its subtree (all machines at once, breadth
first, up to `BROWSE_BATCH` nodes per Browse request: round trips, not nodes, are what a
browse costs). A variable is named by a *group* and a *tag*:

  * group: the BrowseNames of the objects between the machine and the variable, folders
    skipped (they only organise, e.g. `MachineryBuildingBlocks`), joined with "."; the
    Machinery building blocks get short names (`GROUP_ALIASES`, e.g. MachineryItemState ->
    "state"); a variable directly on the machine is in group "machine";
  * tag: the variable's BrowseName; a variable below another variable (HasComponent) is
    `Parent.Child`. Properties of variables (EURange, EngineeringUnits, ...) are metadata and
    are not subscribed, nor are alarm condition objects (subtypes of ConditionType): their
    state arrives as events.
Topic segments never contain MQTT's reserved characters: `/ + #` and whitespace become `_`.
Two variables of one machine with the same group and tag (e.g. after that replacement) are
told apart by a suffix: `Tag`, `Tag~2`, ...
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from asyncua import Client, ua

from mqtt_bridge.sample import MachinePath

MACHINERY_URI = "http://opcfoundation.org/UA/Machinery/"
MACHINES_FOLDER_ID = 1001
MACHINE_IDENTIFICATION_TYPE_ID = 1012
BROWSE_BATCH = 500
READ_BATCH = 2000
MAX_DEPTH = 8  # below a machine
SCAN_DEPTH = 4  # below Objects, when looking for machines outside the Machines folder

GROUP_ALIASES = {
    "MachineryItemState": "state",
    "MachineryOperationMode": "mode",
    "OperationCounters": "counters",
    "LifetimeCounters": "lifetime",
    "Identification": "identification",
    "Components": "components",
}
MACHINE_GROUP = "machine"
HISTORY_READ_BIT = 1 << 2  # AccessLevel bit HistoryRead
_UNSAFE = re.compile(r"[/+#\s]+")


class DiscoveryError(Exception):
    """The server cannot be bridged: the message says why, for a user."""


class NoMachineryError(DiscoveryError):
    """The server does not use the OPC UA Machinery model."""


@dataclass(frozen=True, slots=True)
class Hierarchy:
    """The ISA-95 levels above the cells. A machine's Identification `Location`, read as
    `[[site/]area/]line` (right-aligned), overrides the lower levels when `use_location`."""

    enterprise: str = "factory"
    site: str = "site"
    area: str = "area"
    line: str = "line"
    use_location: bool = True

    def place(self, cell: str, cell_type: str, location: str | None) -> MachinePath:
        levels = [self.site, self.area, self.line]
        if self.use_location and location:
            parts = [p.strip() for p in location.split("/") if p.strip()][-3:]
            levels[3 - len(parts) :] = parts
        names = [self.enterprise, *levels, cell]
        return MachinePath(*(topic_segment(n) for n in names), cell_type=cell_type)


@dataclass(frozen=True, slots=True)
class Variable:
    node_id: ua.NodeId
    group: str
    tag: str
    historizing: bool = False


@dataclass(slots=True)
class Machine:
    node_id: ua.NodeId
    path: MachinePath
    variables: list[Variable] = field(default_factory=list)
    event_notifier: bool = False
    job_management: bool = False  # has OPC 40001-3 Job Management (`jobs.py`)

    @property
    def name(self) -> str:
        return self.path.cell


@dataclass(frozen=True, slots=True)
class MachineRef:
    """A machine found, before its subtree is browsed."""

    node_id: ua.NodeId
    name: str
    type_id: ua.NodeId


def topic_segment(name: str) -> str:
    return _UNSAFE.sub("_", name.strip()) or "_"


def group_name(objects: Iterable[str]) -> str:
    names = [GROUP_ALIASES.get(n, n) for n in objects]
    return topic_segment(".".join(names)) if names else MACHINE_GROUP


# --- low-level batched services --------------------------------------------------------------


async def browse_many(
    client: Client,
    node_ids: list[ua.NodeId],
    reference_type: int = ua.ObjectIds.HierarchicalReferences,
    node_class_mask: int = 0,
) -> list[list[ua.ReferenceDescription]]:
    """Forward references of many nodes, BROWSE_BATCH nodes per request, following
    continuation points. Unknown nodes give an empty list."""
    results: list[list[ua.ReferenceDescription]] = []
    for start in range(0, len(node_ids), BROWSE_BATCH):
        params = ua.BrowseParameters()
        params.View = ua.ViewDescription()
        params.RequestedMaxReferencesPerNode = 0
        for node_id in node_ids[start : start + BROWSE_BATCH]:
            desc = ua.BrowseDescription()
            desc.NodeId = node_id
            desc.BrowseDirection = ua.BrowseDirection.Forward
            desc.ReferenceTypeId = ua.NodeId(reference_type)
            desc.IncludeSubtypes = True
            desc.NodeClassMask = node_class_mask
            desc.ResultMask = ua.BrowseResultMask.All
            params.NodesToBrowse.append(desc)
        for result in await client.uaclient.browse(params):
            refs = list(result.References) if result.StatusCode.is_good() else []
            point = result.ContinuationPoint
            while point:
                nxt = ua.BrowseNextParameters()
                nxt.ContinuationPoints = [point]
                more = (await client.uaclient.browse_next(nxt))[0]
                refs.extend(more.References)
                point = more.ContinuationPoint
            results.append(refs)
    return results


async def read_many(
    client: Client, node_ids: list[ua.NodeId], attribute: ua.AttributeIds
) -> list[ua.DataValue]:
    values: list[ua.DataValue] = []
    for start in range(0, len(node_ids), READ_BATCH):
        values.extend(
            await client.uaclient.read_attributes(node_ids[start : start + READ_BATCH], attribute)
        )
    return values


def _local(node_id: ua.ExpandedNodeId | ua.NodeId) -> ua.NodeId:
    return ua.NodeId(node_id.Identifier, node_id.NamespaceIndex, node_id.NodeIdType)


def _is_folder(ref: ua.ReferenceDescription) -> bool:
    return ref.TypeDefinition is not None and _local(ref.TypeDefinition) == ua.NodeId(
        ua.ObjectIds.FolderType
    )


# --- finding machines ----------------------------------------------------------------------


async def machinery_namespace(client: Client) -> int:
    namespaces = await client.get_namespace_array()
    if MACHINERY_URI not in namespaces:
        raise NoMachineryError(
            f"the server does not use the OPC UA Machinery model: namespace {MACHINERY_URI} "
            "is not in its NamespaceArray, so there are no machines to bridge"
        )
    return namespaces.index(MACHINERY_URI)


async def _subtypes(client: Client, root: ua.NodeId) -> set[ua.NodeId]:
    found, frontier = {root}, [root]
    while frontier:
        refs = await browse_many(client, frontier, ua.ObjectIds.HasSubtype)
        frontier = [_local(r.NodeId) for rs in refs for r in rs if _local(r.NodeId) not in found]
        found.update(frontier)
    return found


async def find_machines(client: Client, scan_objects: bool = True) -> list[MachineRef]:
    """The machines of the server, in browse order (see the module docstring for the rule)."""
    ns = await machinery_namespace(client)
    machines: dict[ua.NodeId, MachineRef] = {}
    folder_id = ua.NodeId(MACHINES_FOLDER_ID, ns)
    (in_folder,) = await browse_many(client, [folder_id], node_class_mask=ua.NodeClass.Object)
    for ref in in_folder:
        if not _is_folder(ref):
            node_id = _local(ref.NodeId)
            machines[node_id] = MachineRef(node_id, ref.BrowseName.Name, _local(ref.TypeDefinition))
    if scan_objects:
        id_types = await _subtypes(client, ua.NodeId(MACHINE_IDENTIFICATION_TYPE_ID, ns))
        skip = {ua.NodeId(ua.ObjectIds.Server), folder_id, *machines}
        frontier = [(ua.NodeId(ua.ObjectIds.ObjectsFolder), None)]
        seen = {frontier[0][0]}
        for _ in range(SCAN_DEPTH + 1):
            if not frontier:
                break
            children = await browse_many(
                client, [n for n, _ in frontier], node_class_mask=ua.NodeClass.Object
            )
            next_frontier = []
            for (node_id, ref_of_node), refs in zip(frontier, children, strict=True):
                has_id = any(
                    r.BrowseName.Name == "Identification" and _local(r.TypeDefinition) in id_types
                    for r in refs
                )
                if has_id and ref_of_node is not None:
                    machines[node_id] = MachineRef(
                        node_id, ref_of_node.BrowseName.Name, _local(ref_of_node.TypeDefinition)
                    )
                    continue
                for r in refs:
                    child = _local(r.NodeId)
                    if child not in seen and child not in skip:
                        seen.add(child)
                        next_frontier.append((child, r))
            frontier = next_frontier
    return list(machines.values())


# --- browsing the machines' variables --------------------------------------------------------


@dataclass(slots=True)
class _Pending:
    node_id: ua.NodeId
    machine: int
    groups: tuple[str, ...]  # object names below the machine, folders skipped
    tags: tuple[str, ...]  # enclosing variable names, for variables below variables
    is_variable: bool
    depth: int


async def browse_machines(
    client: Client, refs: list[MachineRef], hierarchy: Hierarchy
) -> list[Machine]:
    """Browse all machines' subtrees at once and name their variables (module docstring)."""
    # Alarm conditions below a machine are objects whose variables mirror the condition's
    # events; they are delivered as events, so their subtrees are not browsed.
    conditions = await _subtypes(client, ua.NodeId(ua.ObjectIds.ConditionType))
    found: list[list[tuple[ua.NodeId, tuple[str, ...], tuple[str, ...]]]] = [[] for _ in refs]
    location_nodes: dict[int, ua.NodeId] = {}
    frontier = [_Pending(r.node_id, i, (), (), False, 0) for i, r in enumerate(refs)]
    seen = {r.node_id for r in refs}
    while frontier:
        children = await browse_many(client, [p.node_id for p in frontier])
        next_frontier: list[_Pending] = []
        for pending, child_refs in zip(frontier, children, strict=True):
            for ref in child_refs:
                child = _local(ref.NodeId)
                if child in seen or pending.depth >= MAX_DEPTH:
                    continue
                name = ref.BrowseName.Name
                if ref.NodeClass == ua.NodeClass.Object:
                    if ref.TypeDefinition is not None and _local(ref.TypeDefinition) in conditions:
                        continue
                    seen.add(child)
                    groups = pending.groups if _is_folder(ref) else (*pending.groups, name)
                    next_frontier.append(
                        _Pending(child, pending.machine, groups, (), False, pending.depth + 1)
                    )
                elif ref.NodeClass == ua.NodeClass.Variable:
                    if pending.is_variable and ref.ReferenceTypeId == ua.NodeId(
                        ua.ObjectIds.HasProperty
                    ):
                        continue  # metadata of a variable
                    seen.add(child)
                    tags = (*pending.tags, name)
                    found[pending.machine].append((child, pending.groups, tags))
                    if pending.groups == ("Identification",) and name == "Location":
                        location_nodes[pending.machine] = child
                    depth = pending.depth + 1
                    next_frontier.append(
                        _Pending(child, pending.machine, pending.groups, tags, True, depth)
                    )
        frontier = next_frontier

    all_vars = [node for per in found for node, _, _ in per]
    historizing = await read_many(client, all_vars, ua.AttributeIds.Historizing)
    access = await read_many(client, all_vars, ua.AttributeIds.AccessLevel)
    type_ids = sorted({r.type_id for r in refs}, key=str)
    type_names = dict(
        zip(type_ids, await read_many(client, type_ids, ua.AttributeIds.BrowseName), strict=True)
    )
    loc_keys = list(location_nodes)
    loc_values = await read_many(
        client, [location_nodes[k] for k in loc_keys], ua.AttributeIds.Value
    )
    locations = {
        k: _text(dv.Value.Value) if dv.Value is not None else None
        for k, dv in zip(loc_keys, loc_values, strict=True)
    }
    notifier = await read_many(client, [r.node_id for r in refs], ua.AttributeIds.EventNotifier)

    machines: list[Machine] = []
    index = 0
    for i, ref in enumerate(refs):
        type_dv = type_names[ref.type_id]
        type_name = type_dv.Value.Value.Name if type_dv.StatusCode.is_good() else "BaseObjectType"
        machine = Machine(
            ref.node_id,
            hierarchy.place(ref.name, type_name, locations.get(i)),
            event_notifier=bool(notifier[i].Value and (notifier[i].Value.Value or 0) & 1),
        )
        named: set[tuple[str, str]] = set()
        for node_id, groups, tags in found[i]:
            hist_dv, access_dv = historizing[index], access[index]
            index += 1
            can_history = bool(hist_dv.Value and hist_dv.Value.Value) or bool(
                access_dv.Value and (access_dv.Value.Value or 0) & HISTORY_READ_BIT
            )
            group, tag = group_name(groups), topic_segment(".".join(tags))
            base, n = tag, 1
            while (group, tag) in named:  # two variables, one name: number the later ones
                n += 1
                tag = f"{base}~{n}"
            named.add((group, tag))
            machine.variables.append(Variable(node_id, group, tag, can_history))
        machines.append(machine)
    return machines


def _text(value: object) -> str | None:
    if isinstance(value, ua.LocalizedText):
        return value.Text
    return value if isinstance(value, str) else None


async def discover(
    client: Client, hierarchy: Hierarchy, scan_objects: bool = True
) -> list[Machine]:
    """Find the machines and browse their variables: the whole of discovery in one call."""
    return await browse_machines(client, await find_machines(client, scan_objects), hierarchy)
