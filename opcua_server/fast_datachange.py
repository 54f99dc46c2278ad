"""PERF-NOTES lever 1: stop asyncua copying and rebuilding every value per monitored item.

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

`install()` patches the classes for the process it runs in, i.e. for the simulator's server
process; `uninstall()` restores asyncua's behaviour.
"""

from __future__ import annotations

from asyncua import ua
from asyncua.server.monitored_item_service import MonitoredItemService, MonitoredItemValues

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


def install() -> None:
    MonitoredItemValues.set_current_datavalue = _keep_reference
    MonitoredItemService.datachange_callback = _datachange_callback


def uninstall() -> None:
    MonitoredItemValues.set_current_datavalue = _ORIGINAL_SET
    MonitoredItemService.datachange_callback = _ORIGINAL_CALLBACK


def installed() -> bool:
    return MonitoredItemService.datachange_callback is _datachange_callback
