"""A small OPC UA Machinery server built in the tests, so the bridge is proven against a server
it did not come with.

It uses the official Machinery namespace URI and the official NodeIds of the few types it needs
(the `Machines` folder i=1001, MachineIdentificationType i=1012,
MachineryItemState_StateMachineType i=1002, MachineryOperationCounterType i=1009), and a vendor
namespace of its own for the machine types. Besides the machines it holds objects that are NOT
machines (a utilities object, a folder inside `Machines`) so discovery can be shown to skip them,
and one machine outside `Machines` that is only recognisable by its Identification.

The server runs in a thread with its own event loop so that synchronous tests, asynchronous
tests and subprocesses can all talk to it; `restart()` keeps the history store, like a real
server with a persistent historian.

    server = MachineryServer(port=free_port(), machines=["Press1", "Laser1"])
    server.start()
    server.set_value("Press1", "Temperature", 21.5)
    server.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from asyncua import Server, ua
from asyncua.common.utils import ServiceError
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.history import HistoryDict
from cryptography.hazmat.primitives.serialization import Encoding

from opcua_server.testing import free_port as free_port  # the bridge tests import it here
from tests.bridge.machinery_types import ServerTypes

MACHINERY_URI = "http://opcfoundation.org/UA/Machinery/"
VENDOR_URI = "urn:factory-sim:tests:vendor-machines"

OUTSIDE_MACHINE = "Robot1"  # a machine outside the Machines folder

MACHINES_FOLDER = 1001

# variable name -> (group object path below the machine, initial value, historized)
VARIABLES: dict[str, tuple[tuple[str, ...], object, bool]] = {
    "CurrentState": (("MachineryBuildingBlocks", "MachineryItemState"), "NotExecuting", True),
    "PartsProducedInLifetime": (("MachineryBuildingBlocks", "OperationCounters"), 0, True),
    "Temperature": (("Monitoring",), 20.0, True),
    "SpindleSpeed": (("Monitoring",), 0.0, False),
    # Two names that become one topic segment ("Feed_Rate"): the bridge numbers the second.
    "Feed Rate": (("Monitoring",), 1.0, False),
    "Feed/Rate": (("Monitoring",), 2.0, False),
    "Manufacturer": (("Identification",), "ACME Sheet Metal", False),
    "SerialNumber": (("Identification",), "", False),
}


class PersistentHistory(HistoryDict):
    """In-memory history that survives a server restart: re-historizing a node keeps its data."""

    async def new_historized_node(self, node_id, period, count=0):
        if node_id in self._datachanges:
            self._datachanges_period[node_id] = period, count
            return
        await super().new_historized_node(node_id, period, count)

    def expire(self, node_id: ua.NodeId, before: datetime) -> None:
        """Forget a node's values older than `before`, as a server's retention would."""
        data = self._datachanges[node_id]
        data[:] = [dv for dv in data if dv.SourceTimestamp >= before]

    async def save_event(self, event):
        # asyncua hands the historian events stamped with the Server as emitting node; file
        # them under the machine that raised them, which is what HistoryRead asks for.
        if getattr(event, "SourceNode", None) in self._events:
            event.emitting_node = event.SourceNode
        await super().save_event(event)

    async def new_historized_event(self, source_id, evtypes, period, count=0):
        if source_id in self._events:
            self._events_periods[source_id] = period, count
            return
        await super().new_historized_event(source_id, evtypes, period, count)


class PasswordUsers:
    """Accepts exactly one username/password pair; anything else is refused."""

    def __init__(self, username: str, password: str):
        self._credentials = (username, password)

    def get_user(self, iserver, username=None, password=None, certificate=None):
        if (username, password) == self._credentials:
            return User(role=UserRole.User)
        return None


class MachineryServer:
    """A threaded asyncua server with a few Machinery machines; see the module docstring."""

    def __init__(
        self,
        port: int,
        machines: Iterable[str] = ("Press1", "Laser1"),
        with_machinery: bool = True,
        credentials: tuple[str, str] | None = None,
        location: str = "Plant/Bending/Line1",
        security: tuple[str, str, bytes] | None = None,
        clock_offset: timedelta = timedelta(0),
        structures: bool = False,
    ):
        """`security`: (server certificate, its key, the one client certificate (DER) to
        trust) turns on Basic256Sha256 SignAndEncrypt and nothing else. `clock_offset`: the
        source times of its values, initial ones included, are the wall clock plus this (a
        simulator whose plant clock started again is behind what it served before).
        `structures`: the vendor namespace defines structure types of its own (`add_structures`)
        and `Utilities` holds values of them, as raw ExtensionObjects (nothing is registered
        with asyncua: a client has only the server's DataTypeDefinitions to decode them)."""
        self.port = port
        self.url = f"opc.tcp://127.0.0.1:{port}"
        self.initial_machines = list(machines)
        self.with_machinery = with_machinery
        self.credentials = credentials
        self.location = location
        self.security = security
        self.clock_offset = clock_offset
        self.structures = structures
        self.history = PersistentHistory()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Server | None = None
        self._nodes: dict[str, dict[str, ua.NodeId]] = {}  # machine -> variable -> NodeId
        self._machine_nodes: dict[str, ua.NodeId] = {}
        self._counter = 0

    # --- lifecycle, called from any thread -------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.call(self._start())

    def stop(self) -> None:
        if self._loop is None:
            return
        with contextlib.suppress(Exception):
            self.call(self._server.stop())
        with contextlib.suppress(Exception):
            self.call(self._cancel_leftovers())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
        self._loop = None

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop and start again on the same port with the same machines and history."""
        machines = [name for name in self._machine_nodes if name != OUTSIDE_MACHINE]
        self.stop()
        if down_seconds:
            threading.Event().wait(down_seconds)
        self.initial_machines = machines
        self.start()

    def call(self, coro, timeout: float = 30.0):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # --- what tests do ------------------------------------------------------------------------

    @property
    def machines(self) -> list[str]:
        return list(self._machine_nodes)

    def add_machine(self, name: str) -> None:
        self.call(self._add_machine(name))

    def remove_machine(self, name: str) -> None:
        self.call(self._remove_machine(name))

    def add_variable(self, machine: str, variable: str, value: object) -> None:
        """A new variable in the machine's Monitoring object (a component fitted later)."""
        self.call(self._add_variable(machine, variable, value))

    def remove_variable(self, machine: str, variable: str) -> None:
        self.call(self._server.delete_nodes([self._server.get_node(
            self._nodes[machine].pop(variable))]))

    def set_value(self, machine: str, variable: str, value: object) -> datetime:
        """Write one value with a fresh source timestamp; returns that timestamp."""
        return self.call(self._write(machine, variable, value))

    def set_values(self, writes: list[tuple[str, str, object]],
                   at: list[datetime] | None = None) -> list[datetime]:
        """Write values in turn, each with a fresh source timestamp or the one `at` gives."""
        return self.call(self._write_many(writes, at))

    def expire_history(self, machine: str, variable: str, before: datetime) -> None:
        """Forget the historized values of a variable older than `before` (a retention)."""
        self.call(self._expire(self._nodes[machine][variable], before))

    async def _expire(self, node_id: ua.NodeId, before: datetime) -> None:
        self.history.expire(node_id, before)

    def fire_alarm(self, machine: str, message: str, severity: int = 700) -> None:
        self.call(self._fire_alarm(machine, message, severity))

    def fire_alarms(self, machine: str, messages: list[str], severity: int = 700) -> None:
        """A burst: all of them between two publish responses."""
        async def burst() -> None:
            for message in messages:
                await self._fire_alarm(machine, message, severity)
        self.call(burst())

    def limit_queues(self, size: int) -> None:
        """Monitored items created from now on queue at most `size` notifications each."""
        self._server.iserver.max_monitored_item_queue_size = size

    def node_id(self, machine: str, variable: str) -> str:
        return self._nodes[machine][variable].to_string()

    # --- inside the server loop -----------------------------------------------------------

    async def _cancel_leftovers(self) -> None:
        """asyncua leaves session and subscription tasks behind on stop; end them quietly."""
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _start(self) -> None:
        server = Server(user_manager=PasswordUsers(*self.credentials) if self.credentials else None)
        await server.init()
        server.set_endpoint(f"opc.tcp://127.0.0.1:{self.port}")
        server.set_server_name("factory-sim test Machinery server")
        if self.security:
            cert, key, trusted = self.security
            server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
            await server.load_certificate(cert)
            await server.load_private_key(key)

            async def only_the_trusted(certificate, app_description) -> None:
                if certificate.public_bytes(Encoding.DER) != trusted:
                    raise ServiceError(ua.StatusCodes.BadCertificateUntrusted)

            server.set_certificate_validator(only_the_trusted)
        else:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        if self.credentials:
            server.set_identity_tokens([ua.UserNameIdentityToken])
        server.iserver.history_manager.set_storage(self.history)
        self._server = server
        self._machine_nodes.clear()
        self._nodes.clear()
        objects = server.nodes.objects
        self.vendor_ns = await server.register_namespace(VENDOR_URI)
        self.types = ServerTypes(self.vendor_ns)
        if self.with_machinery:
            self.mns = await server.register_namespace(MACHINERY_URI)
            await self.types.define_machinery(server, self.mns)
            self.machines_folder = await objects.add_folder(
                ua.NodeId(MACHINES_FOLDER, self.mns), ua.QualifiedName("Machines", self.mns)
            )
            # A folder inside Machines is an organising node, not a machine.
            await self.machines_folder.add_folder(self.vendor_ns, "Archive")
        utilities = await objects.add_object(self.vendor_ns, "Utilities")
        await utilities.add_variable(self.vendor_ns, "CompressedAirPressure", 6.1)
        if self.structures:
            await self.types.define_structures(server)
        await server.start()
        if self.with_machinery:
            for name in self.initial_machines:
                await self._add_machine(name)
            # A machine that is not under Machines: found by its Identification alone.
            cell = await objects.add_object(self.vendor_ns, "WeldingCell")
            await self._add_machine(OUTSIDE_MACHINE, parent=cell)

    def set_tool_record(self, machine: str, station: int, tool: str, wear: float,
                        cycles: int) -> None:
        now = datetime.now(UTC)
        value = ua.Variant(self.types.tool_record_value(station, tool, wear, cycles))
        self.call(self._server.write_attribute_value(self._nodes[machine]["ToolRecord"],
                                                     ua.DataValue(value, SourceTimestamp=now,
                                                                  ServerTimestamp=now)))

    async def _add_machine(self, name: str, parent=None) -> None:
        ns, vns = self.mns, self.vendor_ns
        parent = parent or self.machines_folder
        machine = await parent.add_object(
            ua.NodeId(f"{name}", vns), ua.QualifiedName(name, vns), objecttype=self.types.machine
        )
        await machine.write_attribute(
            ua.AttributeIds.EventNotifier, ua.DataValue(ua.Variant(1, ua.VariantType.Byte))
        )
        groups = {
            ("Identification",): await machine.add_object(
                ua.NodeId(f"{name}.Identification", vns),
                ua.QualifiedName("Identification", vns),
                objecttype=self.types.identification,
            ),
        }
        blocks = await machine.add_folder(
            ua.NodeId(f"{name}.MachineryBuildingBlocks", vns),
            ua.QualifiedName("MachineryBuildingBlocks", vns),
        )
        groups[("MachineryBuildingBlocks", "MachineryItemState")] = await blocks.add_object(
            ua.NodeId(f"{name}.MachineryItemState", vns),
            ua.QualifiedName("MachineryItemState", ns),
            objecttype=self.types.state,
        )
        groups[("MachineryBuildingBlocks", "OperationCounters")] = await blocks.add_object(
            ua.NodeId(f"{name}.OperationCounters", vns),
            ua.QualifiedName("OperationCounters", ns),
            objecttype=self.types.counter,
        )
        groups[("Monitoring",)] = await machine.add_object(
            ua.NodeId(f"{name}.Monitoring", vns), ua.QualifiedName("Monitoring", vns)
        )
        # An alarm condition below the machine: delivered as events, not as variables.
        await machine.add_object(
            ua.NodeId(f"{name}.HighTemperature", vns), ua.QualifiedName("HighTemperature", vns),
            objecttype=ua.NodeId(ua.ObjectIds.AlarmConditionType),
        )
        await groups[("Identification",)].add_property(
            ua.NodeId(f"{name}.Location", vns), ua.QualifiedName("Location", ns), self.location
        )
        nodes: dict[str, ua.NodeId] = {}
        for variable, (path, initial, historized) in VARIABLES.items():
            value = name if variable == "SerialNumber" else initial
            node = await groups[path].add_variable(
                ua.NodeId(f"{name}.{variable}", vns), ua.QualifiedName(variable, vns), value
            )
            if self.clock_offset:
                now = datetime.now(UTC) + self.clock_offset
                await self._server.write_attribute_value(node.nodeid, ua.DataValue(
                    ua.Variant(value), SourceTimestamp=now, ServerTimestamp=now))
            if historized:
                await self._server.historize_node_data_change(node, period=None, count=0)
            nodes[variable] = node.nodeid
        if self.structures:
            await self.types.add_structure_variables(name, groups[("Monitoring",)], nodes)
        # asyncua historizes the event types a node declares with GeneratesEvent.
        await machine.add_reference(
            ua.NodeId(ua.ObjectIds.AlarmConditionType), ua.ObjectIds.GeneratesEvent
        )
        await self._server.historize_node_event(machine, period=None)
        self._nodes[name] = nodes
        self._machine_nodes[name] = machine.nodeid

    async def _add_variable(self, machine: str, variable: str, value: object) -> None:
        monitoring = self._server.get_node(ua.NodeId(f"{machine}.Monitoring", self.vendor_ns))
        node = await monitoring.add_variable(
            ua.NodeId(f"{machine}.{variable}", self.vendor_ns),
            ua.QualifiedName(variable, self.vendor_ns), value,
        )
        self._nodes[machine][variable] = node.nodeid

    async def _remove_machine(self, name: str) -> None:
        machine = self._server.get_node(self._machine_nodes.pop(name))
        for variable, node_id in self._nodes.pop(name).items():
            if VARIABLES[variable][2]:
                await self._server.dehistorize_node_data_change(self._server.get_node(node_id))
        await self._server.delete_nodes([machine], recursive=True)

    async def _write(self, machine: str, variable: str, value: object,
                     at: datetime | None = None) -> datetime:
        now = at or datetime.now(UTC) + self.clock_offset
        dv = ua.DataValue(ua.Variant(value), SourceTimestamp=now, ServerTimestamp=now)
        await self._server.write_attribute_value(self._nodes[machine][variable], dv)
        return now

    async def _write_many(self, writes: list[tuple[str, str, object]],
                          at: list[datetime] | None = None) -> list[datetime]:
        stamps = at or [None] * len(writes)
        return [await self._write(machine, variable, value, stamp)
                for (machine, variable, value), stamp in zip(writes, stamps, strict=True)]

    async def _fire_alarm(self, machine: str, message: str, severity: int) -> None:
        generator = await self._server.get_event_generator(
            ua.ObjectIds.AlarmConditionType, emitting_node=self._machine_nodes[machine]
        )
        generator.event.SourceNode = self._machine_nodes[machine]
        generator.event.SourceName = machine
        generator.event.Message = ua.LocalizedText(message)
        generator.event.Severity = severity
        await generator.trigger()
