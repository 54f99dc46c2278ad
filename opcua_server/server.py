"""The simulator's OPC UA server: the plant's address space, kept in step with the model.

    plant = Plant(load_scenario(shipped_scenario("reference-opcua")))
    async with SimulationServer(plant, ServerSettings(port=4840, speed=60)) as server:
        print(server.endpoint)
        await server.serve_forever()

The model stays protocol-free: the server subscribes to its events, turns them into value
writes and OPC UA events per pacing tick (`opcua_server.writes`), and paces the model to the
wall clock (`opcua_server.pacing`). Online cells (connectivity OPCUA and UNIFIED) appear under
Objects/Machines (`opcua_server.machines`), vendor-level cells only in their vendor's
namespace (`opcua_server.vendor`), standalone cells not at all.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from asyncua import Server, ua

from factory_sim import events as ev
from factory_sim.kpi import KpiAccounting
from factory_sim.states import ConnectivityLevel
from opcua_server import nodeids
from opcua_server.alarms import AlarmManager
from opcua_server.asyncua_adapter.hardening import HardenedServer, Limits
from opcua_server.call_guard import CallGuard
from opcua_server.cell_methods import CellMethods
from opcua_server.control import SimulationControl
from opcua_server.history_guard import HistoryGuard
from opcua_server.integrator_aids import IntegratorAids
from opcua_server.job_management import JobManagement
from opcua_server.job_values import JobValues
from opcua_server.machines import WAITING, StandardMachine, declare_machine_types
from opcua_server.namespaces import Namespaces, register_namespaces
from opcua_server.node_batch import NodeBatch
from opcua_server.order_book import OrderBook
from opcua_server.pacing import Pacer
from opcua_server.plant_object import PlantObject
from opcua_server.transition_events import TransitionEvents
from opcua_server.types import declare_all
from opcua_server.vendor import VendorMachine, dialect_for
from opcua_server.write_guard import WriteGuard
from opcua_server.writes import Writes

if TYPE_CHECKING:
    from opcua_server.history import HistorySettings
    from opcua_server.security import SecuritySettings

APPLICATION_URI = "urn:factory-sim:server"
_SERVER = ua.NodeId(ua.ObjectIds.Server)
_HAS_NOTIFIER = ua.NodeId(ua.ObjectIds.HasNotifier)
_JOB_ORDER_EVENTS = (ev.JobOrderChanged, ev.JobOrderRemoved)


@dataclass
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 4840
    speed: float = 1.0
    paused: bool = False  # start paused (time moves only by Step/Resume)
    tick_s: float = 0.05  # wall seconds between pacing ticks
    kpi_interval_s: float = 1.0  # wall seconds between KPI refreshes
    # wall seconds between JobOrderList refreshes while the plant runs (its
    # MinimumSamplingInterval); every change still arrives at once as a job order event, and
    # the list is refreshed at once after a method call and on every tick while paused
    job_list_interval_s: float = 1.0
    security: SecuritySettings | None = None  # None: no security
    history: HistorySettings | None = None  # None: no history
    alarms: bool = True  # the machines' alarms as OPC UA conditions
    limits: Limits = field(default_factory=Limits)  # transport limits (asyncua_adapter.hardening)
    simulator_view: bool = False  # Objects/SimulatorView, the truth for trainers (demos only)
    test_nodes: bool = False  # Objects/TestNodes, for testing clients (opcua_server.testnodes)
    alarm_script: Path | None = None  # scripted alarms (opcua_server.alarm_script); needs alarms
    chaos: str | None = None  # "SEED[:PROFILE]": seeded faults (opcua_server.chaos)


class SimulationServer:
    def __init__(self, plant, settings: ServerSettings | None = None) -> None:
        self.plant = plant
        self.settings = settings or ServerSettings()
        self.server: Server = HardenedServer(self.settings.limits)
        self.machines: dict[str, StandardMachine] = {}
        self.vendor_machines: dict[str, VendorMachine] = {}
        self.job_management: dict[str, JobManagement] = {}
        self.ns: Namespaces | None = None
        self.vendor_namespaces: dict[str, int] = {}
        self._writes = Writes(plant.start)
        self.pacer = Pacer(plant, self.flush, speed=self.settings.speed,
                           tick_s=self.settings.tick_s, paused=self.settings.paused,
                           backlog=self._writes.__len__)
        self._views: dict[str, StandardMachine | VendorMachine] = {}
        self._alarms: AlarmManager | None = None
        self._kpis = KpiAccounting(planned_cycle_time=plant.planned_cycle_time,
                                   cells=list(plant.cells))
        self._kpi_due = 0.0
        self._job_list_due = 0.0
        self._started = False
        self.aids = IntegratorAids(self)  # test nodes, alarm script, chaos (as settings ask)

    # ---- life cycle ----
    @property
    def writes(self) -> Writes:
        """The updates waiting for the next flush."""
        return self._writes

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self.settings.host}:{self.settings.port}/factory-sim/"

    async def start(self) -> None:
        """Build the address space, start listening, and start pacing the plant.

        The plant must not have run yet: the server learns the cells' initial states from
        the events of their first run. Process-wide tuning (asyncua speed-ups, garbage
        collector) is the caller's choice: `factory_cli.tuning`, as `factory-sim serve` does.
        """
        if self.plant.now > 0:
            raise ValueError("the plant has already run; give the server a fresh Plant")
        server, settings = self.server, self.settings
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("factory-sim plant")
        await server.set_application_uri(APPLICATION_URI)
        if settings.security is not None:
            from opcua_server import security

            await security.apply(server, settings.security)
        else:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        await self._build()
        await server.start()
        try:
            if settings.history is not None:
                await self._enable_history()
        except BaseException:
            await server.stop()
            raise
        self.plant.subscribe(self._kpis)
        self.plant.subscribe(self._on_event)
        self.plant.subscribe(self._on_job_order_event)
        for view in self._views.values():
            view.initial(self._writes)
        for job_management in self.job_management.values():
            job_management.initial(self._writes)
        self.control.publish(self._writes)
        await self._writes.apply(server)
        await self._stamp_in_plant_time()
        await self.aids.start()
        self.pacer.start()
        self._started = True

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        await self.pacer.stop()
        if self.settings.history is not None:
            from opcua_server import history

            await history.flush(self.server)
        await self.server.stop()

    async def __aenter__(self) -> SimulationServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        await asyncio.Event().wait()

    # ---- address space ----
    async def _build(self) -> None:
        """The address space, step by step: every node in one batch, then what acts on it."""
        self.ns = await register_namespaces(self.server)
        batch = NodeBatch()
        await self._build_nodes(batch)
        batch.commit(self.server)
        self._bind()
        await TransitionEvents(self.server, self._notifiers, self._writes.source_time).enable(
            list(self.machines.values()))
        for job_management in self.job_management.values():
            await job_management.enable_events(self.server, self._notifiers)
        if self.settings.alarms:
            await self._enable_alarms()

    async def _build_nodes(self, batch: NodeBatch) -> None:
        server, plant, ns = self.server, self.plant, self.ns
        declare_all(batch, ns)
        declare_machine_types(batch, ns)
        for cell in plant.cells.values():
            level = cell.connectivity
            if level in (ConnectivityLevel.OPCUA, ConnectivityLevel.UNIFIED):
                machine = StandardMachine(cell, ns)
                machine.build(batch)
                self.machines[cell.id] = machine
                self._views[cell.id] = machine
                self._build_job_management(batch, machine)
            elif level == ConnectivityLevel.VENDOR:
                dialect = dialect_for(cell.vendor)
                if dialect.uri not in self.vendor_namespaces:
                    index = await server.register_namespace(dialect.uri)
                    self.vendor_namespaces[dialect.uri] = index
                    VendorMachine.build_root(batch, dialect, index)
                vendor = VendorMachine(cell, dialect, self.vendor_namespaces[dialect.uri])
                vendor.build(batch)
                self.vendor_machines[cell.id] = vendor
                self._views[cell.id] = vendor
        self.plant_object = PlantObject(ns, plant.hierarchy)
        self.plant_object.build(batch)
        self.order_book = None
        if plant.external_dispatch:  # a client dispatches: it needs the order book
            self.order_book = OrderBook(plant, self.plant_object.node)
            self.order_book.build(batch)
        if self.settings.simulator_view:
            from opcua_server.simulator_view import SimulatorView

            SimulatorView(plant, ns, self._kpis, self._writes).build(batch)
        self.control = SimulationControl(ns.plant, self.pacer)
        self.control.build(batch)
        await self.aids.build(batch)
        self.cell_methods = CellMethods(plant, ns, self.machines, self._after_command)
        self.cell_methods.build(batch)
        # the HasNotifier hierarchy: a client subscribed to the Server hears every machine.
        # The Machines folder is the notifier for its machines (their events are emitted to
        # it too), without HasNotifier references to them: HasNotifier is hierarchical, and
        # with Organizes a hierarchical browse of the folder would list every machine twice.
        self._notifiers = (_SERVER, ua.NodeId(nodeids.MACHINES, ns.machinery))
        batch.reference(*self._notifiers, _HAS_NOTIFIER)

    def _bind(self) -> None:
        """Methods and writable values, behind the checks OPC UA Part 4 asks for."""
        server = self.server
        guard = WriteGuard(server)
        CallGuard(server)
        HistoryGuard(server)
        self.control.bind(server, guard)
        self.aids.bind(guard)
        self.cell_methods.bind(server)
        for vendor in self.vendor_machines.values():
            if vendor.job_import is not None:
                vendor.job_import.bind(server, self._writes, lambda: self.plant.now,
                                       self._after_command)
        for job_management in self.job_management.values():
            job_management.bind(server)

    async def _enable_alarms(self) -> None:
        self._alarms = AlarmManager(
            self.server, clock=lambda: self._writes.source_time(self.plant.now))
        await self._alarms.init()
        for machine in self.machines.values():
            await self._alarms.add_source(machine.node)
            for kind in machine.cell.alarm_kinds:
                await self._alarms.prepare(machine.node, kind)
            machine.on_alarm = self._on_alarm
        await self.aids.load_alarm_script(self._alarms, self.machines)

    async def _enable_history(self) -> None:
        from opcua_server import history

        await history.enable(self.server, self.settings.history)
        await history.historize_variables(self.server, self._machine_variables())
        await history.historize_events(self.server, [m.node for m in self.machines.values()])

    async def _stamp_in_plant_time(self) -> None:
        """Give every machine variable the plant's initial writes left alone the plant's start
        as its source time (asyncua stamped it with the wall clock at build, later than any
        plant time: a client that reads history from the last value it saw, as a bridge's
        backfill does, would find nothing). A value the plant has not written yet says so:
        BadWaitingForInitialData."""
        aspace = self.server.iserver.aspace
        for nodeid in self._machine_variables():
            built = aspace.read_attribute_value(nodeid, ua.AttributeIds.Value)
            if built.SourceTimestamp == self.plant.start:
                continue
            status = built.StatusCode
            if built.Value is None or built.Value.Value is None:
                status = WAITING  # asyncua takes a null of any type only with a bad status
            written = await aspace.write_attribute_value(nodeid, ua.AttributeIds.Value,
                ua.DataValue(Value=built.Value, StatusCode=status,
                             SourceTimestamp=self.plant.start,
                             ServerTimestamp=built.ServerTimestamp))
            written.check()

    def _machine_variables(self) -> list[ua.NodeId]:
        """Every variable of every machine, as a bridge finds and subscribes to them: all of
        them get a history, so a bridge that was away can read back whatever it missed.
        (Alarm condition fields, "<machine>/<Condition>.<field>", are served by events.)"""
        aspace, plant_ns = self.server.iserver.aspace, self.ns.plant
        prefixes = tuple(f"{cell_id}/" for cell_id in self.machines)
        return [nodeid for nodeid in list(aspace.keys())
                if nodeid.NamespaceIndex == plant_ns and isinstance(nodeid.Identifier, str)
                and nodeid.Identifier.startswith(prefixes)
                and "." not in nodeid.Identifier.split("/", 1)[1]  # cell ids may hold dots
                and aspace.read_attribute_value(nodeid, ua.AttributeIds.NodeClass).Value.Value
                == ua.NodeClass.Variable]

    def _build_job_management(self, batch: NodeBatch, machine: StandardMachine) -> None:
        """OPC 40001-3 Job Management on a machine whose cell takes job orders."""
        book = self.plant.job_orders(machine.cell.id)
        if book is None:
            return
        job_management = JobManagement(machine.node, machine.cell, book, self.ns,
                                       JobValues(self.plant.start),
                                       self.plant.scenario.products, self._after_command,
                                       self.settings.job_list_interval_s)
        job_management.build(batch)
        self.job_management[machine.cell.id] = job_management

    # ---- model events -> writes ----
    def _on_job_order_event(self, event: ev.Event) -> None:
        if type(event) in _JOB_ORDER_EVENTS:
            job_management = self.job_management.get(event.cell)
            if job_management is not None:
                job_management.apply(event, self._writes)

    def _on_event(self, event: ev.Event) -> None:
        view = self._views.get(getattr(event, "cell", None))
        if view is not None:
            view.apply(event, self._writes)

    def _on_alarm(self, machine: StandardMachine, writes: Writes, event: ev.Event) -> None:
        alarms, when = self._alarms, self._writes.source_time(event.time)
        if isinstance(event, ev.AlarmRaised):
            writes.action(partial(alarms.raise_alarm, machine.node, event.alarm_id,
                                  event.alarm.value, event.severity, event.message, when))
        else:
            writes.action(partial(alarms.clear, event.alarm_id, when))

    async def _after_command(self) -> None:
        """After an operator command: let the model react at once, then publish."""
        self._job_list_due = 0.0  # a client that changed a job order reads the list at once
        await self.pacer.advance_to(self.plant.now)

    async def flush(self) -> None:
        """Publish what the model did since the last flush (called after every tick)."""
        loop = asyncio.get_running_loop()
        if self.pacer.paused or loop.time() >= self._kpi_due:
            self._kpi_due = loop.time() + self.settings.kpi_interval_s
            self._publish_kpis()
        self.control.publish(self._writes)
        self.plant_object.write_shift(self.plant.calendar, self._writes, self.plant.now)
        self.aids.publish(self._writes, self.plant.now)
        if self.pacer.paused or loop.time() >= self._job_list_due:
            self._job_list_due = loop.time() + self.settings.job_list_interval_s
            for job_management in self.job_management.values():
                job_management.publish(self._writes)
        await self._writes.apply(self.server)
        if self._alarms is not None:
            await self._alarms.life_cycle.expire()  # timed shelving runs on plant time
        await self.aids.after_flush(self.plant.now)

    def _publish_kpis(self) -> None:
        now = self.plant.now
        if now <= 0:
            return
        report = self._kpis.report(now=now)
        for cell_kpis in report.cells:
            machine = self.machines.get(cell_kpis.cell)
            if machine is not None:
                machine.write_kpis(cell_kpis, self._writes, now)
        self.plant_object.write_kpis(report.plant, self._writes, now)
        if self.order_book is not None:
            self.order_book.publish(self._writes, now)
