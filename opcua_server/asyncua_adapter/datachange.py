"""Stop asyncua copying and rebuilding every value per monitored item (docs/performance.md,
server lever 1).

Two costs sit on asyncua's path from a write to a subscription's queue, once per monitored
item and write:

- `MonitoredItemValues.set_current_datavalue` deep-copies the DataValue "to prevent
  referencing the inner value" — about 70 % of the server's time under load;
- `MonitoredItemService.datachange_callback` builds an empty `MonitoredItemNotification`
  (with a default DataValue and Variant whose type asyncua then guesses) before it even
  knows whether the value changed, and fills it in afterwards.

In this server nothing mutates a DataValue after it is written: the updater builds a fresh
DataValue per write, asyncua replaces values rather than changing them
(`dataclasses.replace`), and clients' writes arrive as freshly decoded objects. Keeping the
reference is therefore safe; the notification is built, complete, only when it is sent.
Behaviour is otherwise asyncua 2.1's own (same trigger, deadband and queue logic).

`install()` patches the classes for the whole process, so only a command opts in (through
`opcua_server.asyncua_adapter.SPEEDUPS`); `uninstall()` restores asyncua's behaviour.
"""

from __future__ import annotations

import inspect

from asyncua import ua
from asyncua.server.monitored_item_service import (
    MonitoredItemData,
    MonitoredItemService,
    MonitoredItemValues,
)

_ORIGINAL_SET = MonitoredItemValues.set_current_datavalue
_ORIGINAL_CALLBACK = MonitoredItemService.datachange_callback
_DISABLED = ua.MonitoringMode.Disabled
_STATUS_VALUE = ua.DataChangeTrigger.StatusValue


def _keep_reference(self: MonitoredItemValues, cur_val: ua.DataValue) -> None:
    self.old_dvalue = self.current_dvalue
    self.current_dvalue = cur_val


async def _datachange_callback(self: MonitoredItemService, handle: int, value: ua.DataValue,
                               error: ua.StatusCode | None = None) -> None:
    if error:
        await _ORIGINAL_CALLBACK(self, handle, value, error)
        return
    mid = self._monitored_datachange[handle]
    mdata = self._monitored_items[mid]
    if mdata.mode == _DISABLED:
        return
    values = mdata.mvalue
    values.old_dvalue, values.current_dvalue = values.current_dvalue, value
    if mdata.filter:
        passed = self._is_data_changed(values, mdata.filter.Trigger) and \
            self._is_deadband_exceeded(values, mdata.filter)
    else:
        passed = self._is_data_changed(values, _STATUS_VALUE)
    if passed:
        await self.isub.enqueue_datachange_event(
            mid, ua.MonitoredItemNotification(ClientHandle=mdata.client_handle, Value=value),
            mdata.queue_size)


def supported() -> bool:
    """Whether the installed asyncua has the callback and per-item data this module replaces."""
    try:
        params = list(inspect.signature(_ORIGINAL_CALLBACK).parameters)
        item = MonitoredItemData()
    except (TypeError, ValueError):
        return False
    return (params == ["self", "handle", "value", "error"]
            and all(hasattr(item, name) for name in
                    ("mode", "mvalue", "filter", "client_handle", "queue_size"))
            and all(hasattr(item.mvalue, name) for name in ("current_dvalue", "old_dvalue"))
            and all(callable(getattr(MonitoredItemService, name, None)) for name in
                    ("_is_data_changed", "_is_deadband_exceeded")))


def install() -> bool:
    """Patch asyncua if it is laid out as this module expects; say whether it did."""
    if not supported():
        return False
    MonitoredItemValues.set_current_datavalue = _keep_reference
    MonitoredItemService.datachange_callback = _datachange_callback
    return True


def uninstall() -> None:
    MonitoredItemValues.set_current_datavalue = _ORIGINAL_SET
    MonitoredItemService.datachange_callback = _ORIGINAL_CALLBACK


def installed() -> bool:
    return MonitoredItemService.datachange_callback is _datachange_callback
