"""Stop(), Start() and ResetFault() on every machine: the operator's commands.

Each acts on the model (`plant.stop_cell`, `start_cell`, `reset_fault`); a command the cell
cannot take in its current state (`CommandRejected`) is answered with BadInvalidState, any
argument with BadTooManyArguments (see `opcua_server.methods`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from asyncua import ua

from opcua_server.methods import checked_method
from opcua_server.namespaces import Namespaces
from opcua_server.node_batch import NodeBatch
from opcua_server.state_machines import child

COMMANDS = {
    "Stop": ("stop_cell", "Operator stop: the cell finishes nothing new and stops."),
    "Start": ("start_cell", "Start the cell again after an operator stop."),
    "ResetFault": ("reset_fault", "Acknowledge and reset a failure or a protective stop."),
}


class CellMethods:
    def __init__(self, plant, ns: Namespaces, machines: dict,
                 after: Callable[[], Awaitable[None]]) -> None:
        self.plant, self.ns, self.machines, self.after = plant, ns, machines, after
        self._methods: list[tuple[ua.NodeId, str, str]] = []

    def build(self, batch: NodeBatch) -> None:
        for cell_id, machine in self.machines.items():
            for name in COMMANDS:
                nodeid = batch.method(child(machine.node, name),
                                      ua.QualifiedName(name, self.ns.plant), machine.node, [])
                self._methods.append((nodeid, cell_id, name))

    def bind(self, server) -> None:
        for nodeid, cell_id, name in self._methods:
            server.link_method(server.get_node(nodeid),
                               checked_method([], self._command(cell_id, COMMANDS[name][0])))

    def _command(self, cell_id: str, plant_method: str):
        async def run() -> None:
            getattr(self.plant, plant_method)(cell_id)
            await self.after()

        return run
