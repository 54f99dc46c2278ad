"""OPC 40001-3 Job Management on a machine: JobOrderControl, JobOrderResults, status events.

    <machine>/MachineryBuildingBlocks/JobManagement            (JobManagementType, HasAddIn)
        JobOrderControl   (ISA95JobOrderReceiverObjectType): Store, StoreAndStart, Update,
                          Start, Stop, Cancel, Clear, Pause, Resume, Abort, RevokeStart;
                          JobOrderList, WorkMaster, MaterialDefinitionID, ...,
                          MaxDownloadableJobOrders
        JobOrderResults   (ISA95JobResponseProviderObjectType): RequestJobResponseByJobOrderID,
                          RequestJobResponseByJobOrderState

The methods act on the cell's job order book in the model (`factory_sim.job_orders`); every
job order change the model publishes is mirrored into JobOrderList and raised as an
`ISA95JobOrderStatusEventType` event on the machine (and the notifiers above it).

Status codes: a wrong argument type or count -> BadInvalidArgument / BadArgumentsMissing /
BadTooManyArguments; a job order the cell refuses (unknown variant, bad RunsPlanned, a
JobOrderID in use...) -> BadInvalidArgument; an unknown JobOrderID -> BadNotFound; a command
the job order's state does not allow, or MaxDownloadableJobOrders reached ->
BadInvalidState. Success is Good with ReturnStatus 1 (OPC 10031-4 B.2: bit 0, no error).
Who may call them is the server's role check (`opcua_server.security`): viewers only the
two RequestJobResponse methods, operators and engineers all.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial

from asyncua import ua

from factory_sim import events as ev
from factory_sim.job_orders import (
    InvalidJobOrder,
    JobOrderBook,
    JobOrderNotAllowed,
    UnknownJobOrder,
)
from factory_sim.states import JobOrderState
from opcua_server.asyncua_adapter.event_watchers import watched
from opcua_server.job_values import JobValues
from opcua_server.namespaces import Namespaces
from opcua_server.node_batch import HAS_ADD_IN, HAS_COMPONENT, HAS_PROPERTY, NodeBatch
from opcua_server.state_machines import child, state_machine, write_state
from opcua_server.types import jobs
from opcua_server.types.jobs import STRUCTURES
from opcua_server.writes import Writes

_logger = logging.getLogger(__name__)
MAX_COMMENTS = 16
G = ua.StatusCodes
_ORDER_METHODS = ("Store", "StoreAndStart", "Update")
_BOOK = {"Start": "start", "Stop": "stop", "Cancel": "cancel", "Clear": "clear",
         "Pause": "pause", "Resume": "resume", "Abort": "abort", "RevokeStart": "revoke_start"}


def _result(status: int, arguments: list[int] | None = None,
            outputs: list[ua.Variant] | None = None) -> ua.CallMethodResult:
    return ua.CallMethodResult(StatusCode=ua.StatusCode(status),
                               InputArgumentResults=[ua.StatusCode(c) for c in arguments or []],
                               OutputArguments=outputs or [])


def _done(*outputs: ua.Variant) -> ua.CallMethodResult:
    return _result(G.Good, outputs=[*outputs,
                                    ua.Variant(jobs.RETURN_NO_ERROR, ua.VariantType.UInt64)])


def _comment_ok(variant: ua.Variant) -> bool:
    if variant.Value is None:
        return True
    return (variant.VariantType == ua.VariantType.LocalizedText and variant.is_array
            and len(variant.Value) <= MAX_COMMENTS)


class JobManagement:
    """The Job Management AddIn of one machine."""

    def __init__(self, machine_node: ua.NodeId, cell, book: JobOrderBook, ns: Namespaces,
                 values: JobValues, products, after: Callable[[], Awaitable[None]],
                 list_interval_s: float = 0.0) -> None:
        self.machine, self.cell, self.book, self.ns = machine_node, cell, book, ns
        self.list_interval_s = list_interval_s  # JobOrderList's MinimumSamplingInterval
        self.values, self._after = values, after
        self._products = [p for p in products if cell.name in p.cycle]
        self._methods: dict[ua.NodeId, str] = {}
        self._generator = None
        self._notifiers: tuple[ua.NodeId, ...] = ()
        self._server = None
        self._changed_at: float | None = None
        # JobOrderList's entries by job order: (its request, its state, the structure), so a
        # tick rebuilds only the entries that changed (the whole list was 30 % of the server)
        self._entries: dict[str, tuple[object, object, object]] = {}

    # ---- building ----
    def build(self, batch: NodeBatch) -> None:
        ns, isa, jobs_ns = self.ns, self.ns.isa95, self.ns.jobs
        blocks = child(self.machine, "MachineryBuildingBlocks")
        self.node = batch.object(child(blocks, "JobManagement"),
                                 ua.QualifiedName("JobManagement", jobs_ns), blocks,
                                 ua.NodeId(jobs.JOB_MANAGEMENT_TYPE, jobs_ns),
                                 reference=HAS_ADD_IN)
        control = child(self.node, "JobOrderControl")
        self.current_state = state_machine(
            batch, control, ua.QualifiedName("JobOrderControl", jobs_ns), self.node,
            ua.NodeId(jobs.JOB_ORDER_RECEIVER_TYPE, isa))
        self.control = control
        self.job_order_list = child(control, "JobOrderList")
        fixed = {
            "WorkMaster": [STRUCTURES["ISA95WorkMasterDataType"](ID=f"{p.name}.{self.cell.name}")
                           for p in self._products],
            "MaterialClassID": sorted({p.family for p in self._products}),
            "MaterialDefinitionID": [p.name for p in self._products],
            "EquipmentID": [self.cell.id],
            "PhysicalAssetID": [self.cell.serial_number],
            "PersonnelID": [],
        }
        for name, (_, kind, _) in jobs.RECEIVER_VARIABLES.items():
            value = ua.Variant([], ua.VariantType.ExtensionObject)
            if name in fixed:
                vtype = (ua.VariantType.String if not isinstance(kind, str)
                         else ua.VariantType.ExtensionObject)
                value = ua.Variant(fixed[name], vtype, is_array=True)
            batch.variable(child(control, name), ua.QualifiedName(name, isa), control, value,
                           jobs.datatype(ns, kind), value_rank=1,
                           sampling_ms=(self.list_interval_s * 1000.0
                                        if name == "JobOrderList" else None))
        batch.variable(child(control, "MaxDownloadableJobOrders"),
                       ua.QualifiedName("MaxDownloadableJobOrders", isa), control,
                       ua.Variant(self.book.max_downloadable, ua.VariantType.UInt16),
                       ua.NodeId(ua.ObjectIds.UInt16), reference=HAS_PROPERTY)
        for name in jobs.RECEIVER_METHODS:
            inputs, outputs = jobs.receiver_arguments(ns, name)
            self._methods[batch.method(child(control, name), ua.QualifiedName(name, isa),
                                       control, inputs, outputs)] = name
        results = batch.object(child(self.node, "JobOrderResults"),
                               ua.QualifiedName("JobOrderResults", jobs_ns), self.node,
                               ua.NodeId(jobs.JOB_RESPONSE_PROVIDER_TYPE, isa),
                               reference=HAS_COMPONENT)
        for name in jobs.PROVIDER_METHODS:
            inputs, outputs = jobs.provider_arguments(ns, name)
            self._methods[batch.method(child(results, name), ua.QualifiedName(name, isa),
                                       results, inputs, outputs)] = name

    def bind(self, server) -> None:
        for nodeid, name in self._methods.items():
            handler = getattr(self, f"_{name}", None) or partial(self._command, name)
            server.link_method(server.get_node(nodeid), handler)

    async def enable_events(self, server, notifiers: tuple[ua.NodeId, ...]) -> None:
        """Raise the status events on the machine, and to those watching further up."""
        self._server, self._notifiers = server, notifiers
        self._watchers = (self.machine, *notifiers)
        event_type = ua.NodeId(jobs.JOB_ORDER_STATUS_EVENT_TYPE, self.ns.isa95)
        self._generator = await server.get_event_generator(event_type, self.machine)
        for name in jobs.EVENT_FIELDS:  # the type's properties have no value to take it from
            self._generator.event.data_types[name] = ua.VariantType.ExtensionObject
        server.iserver.node_mgt_service.add_references([ua.AddReferencesItem(
            SourceNodeId=event_type, IsForward=False,  # asyncua adds GeneratesEvent one way
            ReferenceTypeId=ua.NodeId(ua.ObjectIds.GeneratesEvent), TargetNodeId=self.machine)])

    def initial(self, writes: Writes) -> None:
        write_state(writes, self.current_state, None, 0.0)  # each job order has its own
        self._write_list(writes, 0.0)

    # ---- model events -> address space ----
    def apply(self, event: ev.Event, writes: Writes) -> None:
        self._changed_at = event.time  # JobOrderList: written by `publish`
        if (isinstance(event, ev.JobOrderChanged) and self._generator is not None
                and watched(self._server, self._watchers)):
            order = self.book.orders.get(event.job_order_id)
            if order is not None:
                writes.action(partial(self._emit, event, self.values.job_order(order),
                                      self.values.response(order)))

    def publish(self, writes: Writes) -> None:
        """JobOrderList as it is now, if a job order changed since it was last written. The
        server calls it at most once per `list_interval_s` of wall time while the plant runs
        (a plant at a high speed changes its job orders thousands of times a second; clients
        see every change as an event), at once after a method call and on every tick while
        paused."""
        if self._changed_at is not None:
            self._write_list(writes, self._changed_at)
            self._changed_at = None

    def _write_list(self, writes: Writes, time: float) -> None:
        cached, entries = self._entries, []
        for order in self.book.orders.values():
            known = cached.get(order.id)
            if known is None or known[0] is not order.request or known[1] != order.state:
                known = (order.request, order.state, self.values.job_order_and_state(order))
                cached[order.id] = known
            entries.append(known[2])
        if len(cached) > len(entries):  # cleared job orders are forgotten
            for job_order_id in cached.keys() - self.book.orders.keys():
                del cached[job_order_id]
        writes.value(self.job_order_list,
                     ua.Variant(entries, ua.VariantType.ExtensionObject, is_array=True), time)

    async def _emit(self, change: ev.JobOrderChanged, job_order, response) -> None:
        generator = self._generator
        event = generator.event
        state = jobs.JOB_ORDER_STATE_NAMES[int(change.state)]
        before = (jobs.JOB_ORDER_STATE_NAMES[int(change.previous)]
                  if change.previous is not None else "stored")
        event.JobOrder = job_order
        event.JobResponse = response
        event.JobState = [response.JobState[0]]
        event.Severity = 100
        event.SourceName = self.cell.id
        await generator.trigger(time_attr=self.values.when(change.time),
                                message=f"{self.cell.name}: job order {change.job_order_id} "
                                        f"{before} -> {state}")
        subscriptions = self._server.iserver.subscription_service
        for notifier in self._notifiers:
            event.emitting_node = notifier
            await subscriptions.trigger_event(event)
        event.emitting_node = self.machine

    # ---- methods ----
    async def _command(self, name: str, parent: ua.NodeId, *variants: ua.Variant):
        refused = self._check(variants, ua.VariantType.String)
        if refused is not None:
            return refused
        job_order_id = variants[0].Value
        return await self._run(lambda: getattr(self.book, _BOOK[name])(job_order_id))

    async def _Store(self, parent, *variants):
        return await self._store(variants, start=False)

    async def _StoreAndStart(self, parent, *variants):
        return await self._store(variants, start=True)

    async def _Update(self, parent, *variants):
        refused = self._check(variants, "ISA95JobOrderDataType")
        if refused is not None:
            return refused
        return await self._run(lambda: self.book.update(self.values.request(variants[0].Value)))

    async def _store(self, variants, start: bool):
        refused = self._check(variants, "ISA95JobOrderDataType")
        if refused is not None:
            return refused
        return await self._run(lambda: self.book.store(self.values.request(variants[0].Value),
                                                 start=start))

    async def _RequestJobResponseByJobOrderID(self, parent, *variants):
        refused = self._check(variants, ua.VariantType.String, comment=False)
        if refused is not None:
            return refused
        try:
            order = self.book.get(variants[0].Value)
        except UnknownJobOrder:
            return _result(G.BadNotFound)
        return _done(ua.Variant(self.values.response(order)))

    async def _RequestJobResponseByJobOrderState(self, parent, *variants):
        if len(variants) != 1:
            return _result(G.BadArgumentsMissing if not variants else G.BadTooManyArguments)
        states = variants[0].Value
        state_type = "ISA95StateDataType"
        if (not variants[0].is_array or not isinstance(states, list) or len(states) > 6
                or not all(type(s).__name__ == state_type for s in states)):
            return _result(G.BadInvalidArgument, [G.BadTypeMismatch])
        wanted = set()
        for state in states:
            try:
                wanted.add(JobOrderState(state.StateNumber))
            except ValueError:
                return _result(G.BadInvalidArgument, [G.BadOutOfRange])
        responses = [self.values.response(o) for o in self.book.in_states(wanted)]
        return _done(ua.Variant(responses, ua.VariantType.ExtensionObject, is_array=True))

    def _check(self, variants, first, comment: bool = True) -> ua.CallMethodResult | None:
        expected = 2 if comment else 1
        if len(variants) < expected:
            return _result(G.BadArgumentsMissing)
        if len(variants) > expected:
            return _result(G.BadTooManyArguments)
        value = variants[0]
        if isinstance(first, str):
            # by name: a class asyncua made from the DataTypeDefinition decodes it as well
            fits = not value.is_array and type(value.Value).__name__ == first
        else:
            fits = (not value.is_array and value.VariantType == first
                    and isinstance(value.Value, str))
        codes = [G.Good if fits else G.BadTypeMismatch]
        if comment:
            codes.append(G.Good if _comment_ok(variants[1]) else G.BadTypeMismatch)
        if any(code != G.Good for code in codes):
            return _result(G.BadInvalidArgument, codes)
        return None

    async def _run(self, action) -> ua.CallMethodResult:
        try:
            action()
        except InvalidJobOrder as exc:
            _logger.info("job order refused on %s: %s", self.cell.id, exc)
            return _result(G.BadInvalidArgument, [G.BadOutOfRange, G.Good])
        except UnknownJobOrder as exc:
            _logger.info("%s", exc)
            return _result(G.BadNotFound)
        except JobOrderNotAllowed as exc:
            _logger.info("%s", exc)
            return _result(G.BadInvalidState)
        await self._after()  # the cell reacts at once (takes a started job order), published
        return _done()
