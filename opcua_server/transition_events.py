"""The machines' state changes as OPC UA TransitionEvents (OPC 40001-1: MachineryItemState),
reported by the machine and by the notifiers above it (the Machines folder, the Server), so a
client subscribed to any of them hears every machine.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from asyncua import Server, ua
from asyncua.server.event_generator import EventGenerator

from factory_sim.states import MachineryItemState
from opcua_server import nodeids
from opcua_server.machines import StandardMachine
from opcua_server.writes import Writes


class TransitionEvents:
    def __init__(self, server: Server, notifiers: tuple[ua.NodeId, ...],
                 source_time: Callable[[float], datetime]) -> None:
        self._server = server
        self._notifiers = notifiers
        self._source_time = source_time
        self._generators: dict[str, EventGenerator] = {}

    async def enable(self, machines: list[StandardMachine]) -> None:
        """An event generator per machine; the machines report their transitions to it."""
        server, generated_by = self._server, []
        for machine in machines:
            generator = await server.get_event_generator(
                ua.ObjectIds.TransitionEventType, machine.node)
            self._generators[machine.cell.id] = generator
            machine.on_transition = self._on_transition
            generated_by.append(ua.AddReferencesItem(  # asyncua adds GeneratesEvent one way
                SourceNodeId=ua.NodeId(ua.ObjectIds.TransitionEventType), IsForward=False,
                ReferenceTypeId=ua.NodeId(ua.ObjectIds.GeneratesEvent), TargetNodeId=machine.node))
        server.iserver.node_mgt_service.add_references(generated_by)

    def _on_transition(self, machine: StandardMachine, writes: Writes,
                       previous: MachineryItemState | None, state: MachineryItemState,
                       time: float) -> None:
        writes.action(partial(self._emit, machine, previous, state, time))

    async def _emit(self, machine, previous, state, time: float) -> None:
        generator = self._generators[machine.cell.id]
        names = nodeids.MACHINERY_ITEM_STATE_NAMES
        before = names[previous] if previous is not None else ""
        after = names[state]
        event = generator.event
        event.FromState = ua.LocalizedText(before)
        event.ToState = ua.LocalizedText(after)
        event.Transition = ua.LocalizedText(f"{before}To{after}" if before else after)
        event.Severity = 100
        await generator.trigger(time_attr=self._source_time(time),
                                message=f"{machine.cell.name}: {before or 'start'} -> {after}")
        subscriptions = self._server.iserver.subscription_service
        for notifier in self._notifiers:  # the same event, to those watching further up
            event.emitting_node = notifier
            await subscriptions.trigger_event(event)
        event.emitting_node = machine.node
