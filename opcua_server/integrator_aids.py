"""What `serve` offers integrators testing their clients, wired into one SimulationServer:
test nodes (`opcua_server.testnodes`), scripted alarms (`opcua_server.alarm_script`) and
seeded chaos (`opcua_server.chaos`), each only when its setting asks for it.

The server calls `build` while building the address space, `bind` with its write guard,
`load_alarm_script` once its alarms are ready, `start` once it listens, `publish` before it
applies a tick's writes and `after_flush` after it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asyncua import ua

if TYPE_CHECKING:
    from opcua_server.node_batch import NodeBatch
    from opcua_server.server import SimulationServer
    from opcua_server.writes import Writes


class IntegratorAids:

    def __init__(self, owner: SimulationServer) -> None:
        self._owner = owner
        self.test_nodes = None  # opcua_server.testnodes.TestNodes
        self.alarm_script = None  # opcua_server.alarm_script.ScriptRunner
        self.chaos = None  # opcua_server.chaos.Chaos
        if owner.settings.chaos is not None:
            from opcua_server.chaos import parse_chaos

            parse_chaos(owner.settings.chaos)  # a bad value fails before anything starts

    def _chaos_node(self) -> ua.NodeId:
        return ua.NodeId("Simulation/Chaos", self._owner.ns.plant)

    async def build(self, batch: NodeBatch) -> None:
        owner = self._owner
        if owner.settings.test_nodes:
            from opcua_server.testnodes import URI, TestNodes

            self.test_nodes = TestNodes(await owner.server.register_namespace(URI))
            self.test_nodes.build(batch)
        if owner.settings.chaos is not None:
            plant_ns = owner.ns.plant
            batch.variable(self._chaos_node(), ua.QualifiedName("Chaos", plant_ns),
                           ua.NodeId("Simulation", plant_ns),
                           ua.Variant([], ua.VariantType.String), ua.NodeId(ua.ObjectIds.String),
                           value_rank=1)

    def bind(self, guard) -> None:
        if self.test_nodes is not None:
            self.test_nodes.bind(guard)

    async def load_alarm_script(self, alarms, machines: dict) -> None:
        path = self._owner.settings.alarm_script
        if path is None:
            return
        from opcua_server.alarm_script import ScriptRunner, load_script

        script = load_script(path, machines=set(machines))
        sources = {cell_id: machine.node for cell_id, machine in machines.items()}
        for alarm in script.alarms.values():
            await alarms.prepare(sources[alarm.machine], alarm.kind)
        self.alarm_script = ScriptRunner(script, alarms, sources,
                                         self._owner.writes.source_time)

    async def start(self) -> None:
        owner = self._owner
        if owner.settings.chaos is None:
            return
        from opcua_server.chaos import Chaos, parse_chaos

        seed, profile = parse_chaos(owner.settings.chaos)
        log_node = self._chaos_node()
        generator = await owner.server.get_event_generator()  # BaseEventType, from the Server

        async def report(message: str, time: float) -> None:
            generator.event.SourceNode, generator.event.SourceName = log_node, "Simulation/Chaos"
            generator.event.Severity = 300
            await generator.trigger(time_attr=owner.writes.source_time(time), message=message)

        self.chaos = Chaos(owner.server, seed, profile, log_node, owner.pacer.jump, report,
                           controls=ua.NodeId("Simulation", owner.ns.plant))

    def publish(self, writes: Writes, now: float) -> None:
        if self.test_nodes is not None:
            self.test_nodes.update(writes, now)

    async def after_flush(self, now: float) -> None:
        if self.alarm_script is not None:
            await self.alarm_script.advance(now)
        if self.chaos is not None:
            owner = self._owner
            await self.chaos.advance(now)
            owner.control.publish(owner.writes)  # after a clock jump: the model's new time
            await owner.writes.apply(owner.server)
