"""The dashboard's OPC UA client for one plant: commands, the simulator's view, shift reports.

It subscribes to Objects/SimulatorView (marked on the server as the simulator's own view, not
part of the factory), Objects/Plant/ShiftReports (what the office system knows of cells that are
not online) and Objects/Simulation; and it sends the trainer's commands: Pause, Resume,
SetSpeed (Simulation methods) and a condition's Acknowledge (OPC UA Part 9).
"""

from __future__ import annotations

import asyncio
import logging

from asyncua import Client, ua

from dashboard.state import PlantState

_logger = logging.getLogger(__name__)
PLANT_NAMESPACE = "urn:factory-sim:plant"
PUBLISHING_MS = 500
ACKNOWLEDGE = ua.NodeId(ua.ObjectIds.AcknowledgeableConditionType_Acknowledge)
RETRY_S = 1.0


class CommandFailed(Exception):
    """The server refused a command: the message names the command and the status."""


class OpcuaLink:
    def __init__(self, plant: PlantState, login: tuple[str, str] | None = None) -> None:
        """`login`: (user, password) of an operator, for the methods; None: anonymous."""
        self.plant, self.login = plant, login
        self.client: Client | None = None
        self.ns: int | None = None
        self._task: asyncio.Task | None = None
        self._keys: dict[str, tuple[str, ...]] = {}

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"opcua {self.plant.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                client = Client(self.plant.endpoint, timeout=5)
                if self.login is not None:
                    client.set_user(self.login[0])
                    client.set_password(self.login[1])
                async with client:
                    self.client = client
                    await self._subscribe(client)
                    self.plant.opcua_connected = True
                    while True:  # asyncua notices a dead connection in its keep-alive
                        await asyncio.sleep(1)
                        await client.check_connection()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reconnect on anything: the demo must keep showing
                _logger.info("OPC UA %s: %s; retrying", self.plant.endpoint, exc)
            finally:
                self.client = None
                self.plant.opcua_connected = False
            await asyncio.sleep(RETRY_S)

    async def _subscribe(self, client: Client) -> None:
        self.ns = ns = await client.get_namespace_index(PLANT_NAMESPACE)
        keys: dict[str, tuple[str, ...]] = {}
        for name in ("SimulatedClock", "Speed", "Paused"):
            keys[f"Simulation/{name}"] = ("simulation", name)
        cells = client.get_node(ua.NodeId("SimulatorView/Cells", ns))
        for cell in await cells.get_children():
            cell_name = (await cell.read_browse_name()).Name
            for variable in await cell.get_children(refs=ua.ObjectIds.HierarchicalReferences,
                                                    nodeclassmask=ua.NodeClass.Variable):
                name = (await variable.read_browse_name()).Name
                keys[variable.nodeid.Identifier] = ("cell", cell_name, name)
        kpi = client.get_node(ua.NodeId("SimulatorView/Kpi", ns))
        for variable in await kpi.get_children():
            keys[variable.nodeid.Identifier] = ("kpi", (await variable.read_browse_name()).Name)
        reports = client.get_node(ua.NodeId("Plant/ShiftReports", ns))
        try:
            report_cells = await reports.get_children()
        except ua.UaStatusCodeError:
            report_cells = []  # every cell is online: no paper reports
        for cell in report_cells:
            cell_name = (await cell.read_browse_name()).Name
            for variable in await cell.get_children():
                name = (await variable.read_browse_name()).Name
                keys[variable.nodeid.Identifier] = ("report", cell_name, name)
        self._keys = keys
        subscription = await client.create_subscription(PUBLISHING_MS, self)
        await subscription.subscribe_data_change(
            [client.get_node(ua.NodeId(identifier, ns)) for identifier in keys])

    # asyncua subscription handler
    def datachange_notification(self, node, value, data) -> None:
        key = self._keys.get(node.nodeid.Identifier)
        if key is not None:
            self.plant.apply_opcua(key, value, data.monitored_item.Value.SourceTimestamp)

    # ---- commands ----
    async def _call(self, what: str, object_id: ua.NodeId, method_id: ua.NodeId, *args) -> None:
        client = self.client
        if client is None:
            raise CommandFailed(f"{what}: {self.plant.name} is not connected")
        try:
            await client.get_node(object_id).call_method(method_id, *args)
        except ua.UaStatusCodeError as exc:
            raise CommandFailed(f"{what} on {self.plant.name}: {exc}") from None

    async def pause(self) -> None:
        await self._simulation("Pause")

    async def resume(self) -> None:
        await self._simulation("Resume")

    async def step(self, seconds: float) -> None:
        await self._simulation("Step", ua.Variant(float(seconds), ua.VariantType.Double))

    async def simulated_time(self) -> float:
        client = self.client
        if client is None:
            raise CommandFailed(f"SimulatedTime: {self.plant.name} is not connected")
        return await client.get_node(ua.NodeId("Simulation/SimulatedTime", self.ns)).read_value()

    async def set_speed(self, speed: float) -> None:
        await self._simulation("SetSpeed", ua.Variant(float(speed), ua.VariantType.Double))

    async def _simulation(self, method: str, *args) -> None:
        ns = self.ns
        await self._call(method, ua.NodeId("Simulation", ns),
                         ua.NodeId(f"Simulation/{method}", ns), *args)

    async def acknowledge(self, condition_id: str, event_id: str, comment: str) -> None:
        """Acknowledge(EventId, Comment) on the condition, with the EventId of its newest event."""
        await self._call("Acknowledge", ua.NodeId.from_string(condition_id), ACKNOWLEDGE,
                         ua.Variant(bytes.fromhex(event_id), ua.VariantType.ByteString),
                         ua.Variant(ua.LocalizedText(comment), ua.VariantType.LocalizedText))
