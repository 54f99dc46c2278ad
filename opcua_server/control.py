"""Objects/Simulation: pause, resume, step and set the speed of the simulated plant.

Variables SimulatedTime (seconds since the plant's start), SimulatedClock (the wall-clock
time that maps to), Speed and Paused; methods Pause(), Resume(), Step(Seconds) and
SetSpeed(Speed). Step only works while paused (BadInvalidState otherwise), so a client
can move the model by exact amounts of simulated time and compare what it sees.
"""

from __future__ import annotations

from asyncua import ua

from factory_sim.plant import CommandRejected
from opcua_server.methods import Arg, ArgumentRejected, checked_method
from opcua_server.node_batch import HAS_COMPONENT, ORGANIZES, READ, READ_WRITE, NodeBatch
from opcua_server.pacing import MAX_SPEED, Pacer, PacingError
from opcua_server.state_machines import child
from opcua_server.writes import Writes

MAX_STEP_S = 86400.0  # a simulated day: a few seconds of wall time at 100 cells
STEP_ARGS = [Arg("Seconds", ua.VariantType.Double,
                 f"simulated seconds to advance (> 0, <= {MAX_STEP_S:g})")]
SPEED_ARGS = [Arg("Speed", ua.VariantType.Double,
                  f"simulated seconds per wall-clock second (> 0, <= {MAX_SPEED:g})")]


class SimulationControl:
    def __init__(self, plant_ns: int, pacer: Pacer) -> None:
        self.pacer = pacer
        self.node = ua.NodeId("Simulation", plant_ns)
        self.ns = plant_ns
        self.simulated_time = child(self.node, "SimulatedTime")
        self.simulated_clock = child(self.node, "SimulatedClock")
        self.speed = child(self.node, "Speed")
        self.paused = child(self.node, "Paused")

    def build(self, batch: NodeBatch) -> None:
        p = self.ns
        batch.object(self.node, ua.QualifiedName("Simulation", p),
                     ua.NodeId(ua.ObjectIds.ObjectsFolder), ua.NodeId(ua.ObjectIds.BaseObjectType),
                     reference=ORGANIZES)
        for nodeid, datatype, access in (
            (self.simulated_time, ua.ObjectIds.Duration, READ),
            (self.simulated_clock, ua.ObjectIds.UtcTime, READ),
            (self.speed, ua.ObjectIds.Double, READ_WRITE),
            (self.paused, ua.ObjectIds.Boolean, READ_WRITE),
        ):
            batch.variable(nodeid, ua.QualifiedName(nodeid.Identifier.rsplit("/", 1)[1], p),
                           self.node, ua.Variant(None), ua.NodeId(datatype),
                           reference=HAS_COMPONENT, access=access)
        self.methods = {}
        for name, args in (("Pause", []), ("Resume", []), ("Step", STEP_ARGS),
                           ("SetSpeed", SPEED_ARGS)):
            nodeid = batch.method(child(self.node, name), ua.QualifiedName(name, p), self.node,
                                  [a.argument() for a in args])
            self.methods[nodeid] = args

    def bind(self, server, guard) -> None:
        """Link the methods, and let clients write Speed and Paused as well."""
        guard.on_write(self.speed, ua.VariantType.Double, self.pacer.set_speed)
        guard.on_write(self.paused, ua.VariantType.Boolean, self._write_paused)
        handlers = {"Pause": self._pause, "Resume": self._resume, "Step": self._step,
                    "SetSpeed": self._set_speed}
        for nodeid, args in self.methods.items():
            name = nodeid.Identifier.rsplit("/", 1)[1]
            server.link_method(server.get_node(nodeid), checked_method(args, handlers[name]))

    def publish(self, writes: Writes) -> None:
        """Current simulated time, speed and pause state (written after every tick)."""
        now = self.pacer.now
        writes.value(self.simulated_time, ua.Variant(now, ua.VariantType.Double), now)
        writes.value(self.simulated_clock,
                     ua.Variant(writes.source_time(now), ua.VariantType.DateTime), now)
        writes.value(self.speed, ua.Variant(self.pacer.speed, ua.VariantType.Double), now)
        writes.value(self.paused, ua.Variant(self.pacer.paused, ua.VariantType.Boolean), now)

    async def _write_paused(self, paused: bool) -> None:
        await (self.pacer.pause() if paused else self.pacer.resume())

    async def _pause(self) -> None:
        await self.pacer.pause()
        await self.pacer.advance_to(self.pacer.now)

    async def _resume(self) -> None:
        await self.pacer.resume()
        await self.pacer.advance_to(self.pacer.now)

    async def _step(self, seconds: float) -> None:
        if not 0 < seconds <= MAX_STEP_S:
            raise ArgumentRejected(0, f"Step: Seconds must be > 0 and <= {MAX_STEP_S:g}, "
                                      f"got {seconds}")
        if not self.pacer.paused:
            raise CommandRejected("Step: the simulation is running; call Pause first")
        try:
            await self.pacer.step(seconds)
        except PacingError as exc:
            raise CommandRejected(str(exc)) from None

    async def _set_speed(self, speed: float) -> None:
        try:
            await self.pacer.set_speed(speed)
        except PacingError as exc:
            raise ArgumentRejected(0, str(exc)) from None
        await self.pacer.advance_to(self.pacer.now)


