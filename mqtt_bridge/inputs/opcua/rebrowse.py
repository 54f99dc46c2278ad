"""What changed on the server since the machines were last browsed.

Every `rebrowse_interval` seconds the source browses again; `diff` compares what it found with
the machines already bridged: machines gone, machines new, and per known machine the variables
added and removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asyncua import ua

from mqtt_bridge.inputs.opcua.discovery import Machine


@dataclass
class Changes:
    gone: list[ua.NodeId] = field(default_factory=list)  # machines no longer found
    new: list[Machine] = field(default_factory=list)  # machines not bridged yet
    # known machines with only their added variables
    grown: list[Machine] = field(default_factory=list)
    # known machine -> node ids of its variables that disappeared
    shrunk: dict[ua.NodeId, set[ua.NodeId]] = field(default_factory=dict)


def diff(known: dict[ua.NodeId, Machine], found: list[ua.NodeId],
         browsed: list[Machine]) -> Changes:
    """Compare the bridged machines (`known`) with those `found` now and their browsed trees.

    >>> from mqtt_bridge.inputs.opcua.discovery import Variable
    >>> from mqtt_bridge.sample import MachinePath
    >>> path = MachinePath("f", "s", "a", "l", "press", "PressType")
    >>> old = Machine(ua.NodeId(1), path, [Variable(ua.NodeId(10), "g", "a")])
    >>> now = Machine(ua.NodeId(1), path, [Variable(ua.NodeId(11), "g", "b")])
    >>> changes = diff({ua.NodeId(1): old}, [ua.NodeId(1)], [now])
    >>> [v.tag for m in changes.grown for v in m.variables]
    ['b']
    >>> {m.Identifier: {v.Identifier for v in gone} for m, gone in changes.shrunk.items()}
    {1: {10}}
    """
    present = set(found)
    changes = Changes(gone=[node for node in known if node not in present])
    for machine in browsed:
        before = known.get(machine.node_id)
        if before is None:
            changes.new.append(machine)
            continue
        old = {v.node_id for v in before.variables}
        now = {v.node_id for v in machine.variables}
        added = [v for v in machine.variables if v.node_id not in old]
        if added:
            changes.grown.append(Machine(before.node_id, before.path, added))
        if old - now:
            changes.shrunk[before.node_id] = old - now
    return changes
