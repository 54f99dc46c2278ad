"""Stop asyncua deep-copying every event field once per monitored item (docs/performance.md).

`Event.to_event_fields` builds the fields a monitored item selected and deep-copies each
value, once per monitored item and trigger. A plant at a high speed raises job order status
events (OPC 40001-3) by the hundred per second, each carrying a job order and a job response
structure with nested lists; py-spy found `copy.deepcopy` under `to_event_fields` at about
40 % of the server's samples with one subscribed bridge.

In this server nothing mutates an event field's value once the event is triggered: every
generator assigns new values for its next event (`JobManagement._emit`, the alarm and
transition events, `condition_view`), and asyncua's `EventGenerator.trigger` assigns a new
EventId, Time and Message. Keeping the reference is therefore safe. Behaviour is otherwise
asyncua 2.1's own (same select-clause lookup, Null for a missing field).

`install()` patches the class for the whole process, so only a command opts in (through
`opcua_server.asyncua_adapter.SPEEDUPS`); `uninstall()` restores asyncua's behaviour.
"""

from __future__ import annotations

import inspect

from asyncua import ua
from asyncua.common.events import Event

_ORIGINAL = Event.to_event_fields


def _to_event_fields(self: Event, select_clauses: list[ua.SimpleAttributeOperand]
                     ) -> list[ua.Variant]:
    fields: list[ua.Variant] = []
    data_types = self.data_types
    for operand in select_clauses:
        if operand.BrowsePath:
            name = self.browse_path_to_attribute_name(operand.BrowsePath)
        else:
            name = ua.AttributeIds(operand.AttributeId).name
        value = getattr(self, name, None)
        fields.append(ua.Variant(None) if value is None else ua.Variant(value, data_types[name]))
    return fields


def supported() -> bool:
    """Whether asyncua's Event still has the method and helpers this module relies on."""
    try:
        params = list(inspect.signature(_ORIGINAL).parameters)
    except (TypeError, ValueError):
        return False
    event = Event()
    return (params == ["self", "select_clauses"]
            and isinstance(getattr(event, "data_types", None), dict)
            and callable(getattr(Event, "browse_path_to_attribute_name", None)))


def install() -> bool:
    """Patch asyncua if it is laid out as this module expects; say whether it did."""
    if not supported():
        return False
    Event.to_event_fields = _to_event_fields
    return True


def uninstall() -> None:
    Event.to_event_fields = _ORIGINAL


def installed() -> bool:
    return Event.to_event_fields is _to_event_fields
