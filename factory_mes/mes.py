"""Release orders by due date under a WIP cap, one job order per operation.

    async with Client(url) as client:
        mes = await Mes.connect(client, wip_cap=4)
        while True:
            await mes.dispatch_once()
            await asyncio.sleep(1)

Each round reads the order book (Objects/Plant/Orders) and every machine's JobOrderList:

- an order whose first operation has no job order yet is released, earliest due date first,
  while fewer than `wip_cap` released orders are unfinished: StoreAndStart of
  `<order id>/<cell>` on the routing's first cell, RunsPlanned = the order's quantity;
- an operation whose job order Ended passes its good parts on: StoreAndStart of the next
  cell's job order with RunsPlanned = RunsCompleted (the response's count), and the ended
  job order is cleared;
- a cell that refuses (MaxDownloadableJobOrders reached) is asked again next round.

`history` keeps, per order, every operation's job order and its counts (what the test and
an integrator's report read).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from asyncua import Client, ua

_logger = logging.getLogger(__name__)
MACHINERY = "http://opcfoundation.org/UA/Machinery/"
MACHINERY_JOBS = "http://opcfoundation.org/UA/Machinery/Jobs/"
ISA95 = "http://opcfoundation.org/UA/ISA95-JOBCONTROL_V2/"
MACHINES_FOLDER = 1001
ENDED, ABORTED = 5, 6


@dataclass
class Operation:
    cell: str
    job_order_id: str
    runs_planned: int
    state: int = 0
    runs_completed: int | None = None
    scrap: int | None = None


@dataclass
class OrderProgress:
    order_id: str
    variant: str
    routing: list[str]
    operations: list[Operation] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return (len(self.operations) == len(self.routing)
                and self.operations[-1].state in (ENDED, ABORTED))


class DispatchError(Exception):
    """The server lacks what the MES needs (the message says what)."""


class Mes:
    def __init__(self, client: Client, wip_cap: int) -> None:
        self.client, self.wip_cap = client, wip_cap
        self.machines: dict[str, object] = {}  # cell BrowseName -> JobOrderControl node
        self.results: dict[str, object] = {}  # cell -> JobOrderResults node
        self.history: dict[str, OrderProgress] = {}

    @classmethod
    async def connect(cls, client: Client, wip_cap: int = 4) -> Mes:
        if wip_cap < 1:
            raise ValueError("wip_cap must be at least 1")
        mes = cls(client, wip_cap)
        await mes._find()
        return mes

    async def _find(self) -> None:
        client = self.client
        uris = await client.get_namespace_array()
        for uri in (MACHINERY, MACHINERY_JOBS, ISA95):
            if uri not in uris:
                raise DispatchError(f"the server has no {uri} namespace: no Job Management")
        m, j, isa = (uris.index(u) for u in (MACHINERY, MACHINERY_JOBS, ISA95))
        self._isa = isa
        machines = client.get_node(ua.NodeId(MACHINES_FOLDER, m))
        for machine in await machines.get_children():
            name = (await machine.read_browse_name()).Name
            try:
                management = await machine.get_child(
                    [f"{m}:MachineryBuildingBlocks", f"{j}:JobManagement"])
            except ua.UaStatusCodeError:
                continue  # a machine without Job Management
            self.machines[name] = await management.get_child(f"{j}:JobOrderControl")
            self.results[name] = await management.get_child(f"{j}:JobOrderResults")
        if not self.machines:
            raise DispatchError("no machine offers Job Management")
        objects = client.nodes.objects
        plant_ns = next((i for i, u in enumerate(uris) if u == "urn:factory-sim:plant"), None)
        try:
            self._orders = await objects.get_child([f"{plant_ns}:Plant", f"{plant_ns}:Orders"])
        except (ua.UaStatusCodeError, TypeError):
            raise DispatchError("no order book under Objects/Plant/Orders: is the plant "
                                "served with --jobs external?") from None
        if not hasattr(ua, "ISA95JobOrderDataType"):  # (known already beside a server)
            await client.load_data_type_definitions()

    async def order_book(self) -> list[tuple[str, str, list[str], int, object]]:
        """(order id, variant, routing, quantity, due) of the orders not yet released."""
        names = ("OrderIds", "Variants", "Routings", "Quantities", "DueDates", "Released")
        children = [await self._orders.get_child(f"{self._orders.nodeid.NamespaceIndex}:{n}")
                    for n in names]
        values = await self.client.read_values(children)
        ids, variants, routings, quantities, dues, released = (v or [] for v in values)
        book = [(i, v, r.split(","), q, d) for i, v, r, q, d, done
                in zip(ids, variants, routings, quantities, dues, released, strict=True)
                if not done]
        return sorted(book, key=lambda entry: entry[4])

    async def _states(self, cell: str) -> dict[str, int]:
        listed = await (await self.machines[cell].get_child(
            f"{self._isa}:JobOrderList")).read_value()
        return {e.JobOrder.JobOrderID: e.State[0].StateNumber for e in listed or []}

    async def dispatch_once(self) -> int:
        """One round; returns how many job orders were stored."""
        stored = 0
        states = {cell: await self._states(cell) for cell in self.machines}
        for progress in self.history.values():
            if progress.finished:
                continue
            current = progress.operations[-1]
            current.state = states[current.cell].get(current.job_order_id, current.state)
            if current.state not in (ENDED, ABORTED):
                continue
            await self._read_counts(current)
            await self._call(current.cell, "Clear", current.job_order_id)
            step = len(progress.operations)
            if step < len(progress.routing) and current.runs_completed:
                stored += await self._start(progress, progress.routing[step],
                                            current.runs_completed)
        active = sum(1 for p in self.history.values() if not p.finished)
        for order_id, variant, routing, quantity, _ in await self.order_book():
            if active >= self.wip_cap:
                break
            if order_id in self.history or routing[0] not in self.machines:
                continue
            progress = OrderProgress(order_id, variant, routing)
            if await self._start(progress, routing[0], quantity):
                self.history[order_id] = progress
                active += 1
                stored += 1
        return stored

    async def _start(self, progress: OrderProgress, cell: str, runs: int) -> bool:
        job_order_id = f"{progress.order_id}/{cell}"
        order = _job_order(job_order_id, progress.variant, runs)
        status = await self._call(cell, "StoreAndStart", ua.Variant(order))
        if not status.is_good():
            _logger.info("%s refused %s: %s", cell, job_order_id, status)
            return False
        progress.operations.append(Operation(cell, job_order_id, runs))
        return True

    async def _read_counts(self, operation: Operation) -> None:
        node = self.results[operation.cell]
        method = await node.get_child(f"{self._isa}:RequestJobResponseByJobOrderID")
        result = await self._raw_call(node, method, [ua.Variant(operation.job_order_id)])
        if result.StatusCode.is_good():
            data = {p.ID: p.Value.Value for p in result.OutputArguments[0].Value.JobResponseData}
            operation.runs_completed = data.get("RunsCompleted")
            operation.scrap = data.get("ScrapCount")

    async def _call(self, cell: str, method_name: str, first) -> ua.StatusCode:
        node = self.machines[cell]
        method = await node.get_child(f"{self._isa}:{method_name}")
        if not isinstance(first, ua.Variant):
            first = ua.Variant(first, ua.VariantType.String)
        comment = ua.Variant([], ua.VariantType.LocalizedText, is_array=True)
        return (await self._raw_call(node, method, [first, comment])).StatusCode

    async def _raw_call(self, node, method, arguments) -> ua.CallMethodResult:
        request = ua.CallMethodRequest(ObjectId=node.nodeid, MethodId=method.nodeid,
                                       InputArguments=arguments)
        return (await self.client.uaclient.call([request]))[0]


def _job_order(job_order_id: str, variant: str, runs: int):
    """An ISA95JobOrderDataType, from the classes the server's DataTypeDefinitions gave."""
    job_order, parameter, material = (getattr(ua, name) for name in (
        "ISA95JobOrderDataType", "ISA95ParameterDataType", "ISA95MaterialDataType"))
    return job_order(JobOrderID=job_order_id,
               JobOrderParameters=[parameter(ID="RunsPlanned",
                                             Value=ua.Variant(runs, ua.VariantType.UInt32))],
               MaterialRequirements=[material(MaterialDefinitionID=variant)])
