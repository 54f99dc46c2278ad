"""The updates one pacing tick produces, applied to the address space in one go.

Model events arrive synchronously while the plant runs; writing to asyncua is asynchronous.
Views turn events into `Writes` (values with their simulated source time, plus the OPC UA
events and alarms to fire), and the server applies them after each tick, in order, through
`server.write_attribute_value`, the cheapest write path asyncua has (docs/performance.md,
server lever 3).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from asyncua import ua

GOOD = ua.StatusCode(ua.StatusCodes.Good)
YIELD_EVERY = 2000


class Writes:
    """An ordered batch of value writes and asynchronous actions (events, alarms)."""

    __slots__ = ("_last", "_stamps", "_start", "actions", "values")

    def __init__(self, start: datetime) -> None:
        self._start = start
        # keyed by id(): NodeId's hash is Python code, and the views keep their NodeIds
        self._last: dict[int, tuple[object, ua.VariantType, ua.StatusCode]] = {}
        self._stamps: tuple[float, datetime, datetime] = (-1.0, start, start)
        self.values: list[tuple[ua.NodeId, ua.DataValue]] = []
        self.actions: list[tuple[int, Callable[[], Awaitable[None]]]] = []

    def source_time(self, sim_time: float) -> datetime:
        """Wall-clock time of a simulated moment: the plant's start plus the simulated seconds."""
        return self._start + timedelta(seconds=sim_time)

    def value(self, nodeid: ua.NodeId, variant: ua.Variant, sim_time: float,
              status: ua.StatusCode = GOOD) -> None:
        """Write `variant` unless the node already has that value and status.

        `nodeid` must be an object the caller keeps (values are compared by its identity).
        A write that changes nothing notifies no subscriber (the default data-change
        trigger is status and value) but costs asyncua a data-change callback per
        monitored item; model events repeat many values (the operation mode, the state
        machine's Id for the same state...), so skipping them halves the server's work.
        """
        key, current = id(nodeid), (variant.Value, variant.VariantType, status)
        if self._last.get(key) == current:
            return
        self._last[key] = current
        stamp_time, source, server = self._stamps
        if stamp_time != sim_time:  # one model event writes several values at one moment
            source, server = self.source_time(sim_time), datetime.now(UTC)
            self._stamps = (sim_time, source, server)
        self.values.append((nodeid, ua.DataValue(
            Value=variant, StatusCode=status, SourceTimestamp=source, ServerTimestamp=server)))

    def action(self, action: Callable[[], Awaitable[None]]) -> None:
        """Run `action` after the values written so far (keeps events in step with values)."""
        self.actions.append((len(self.values), action))

    def __len__(self) -> int:
        return len(self.values) + len(self.actions)

    async def apply(self, server) -> None:
        """Write everything to `server` in order, then forget it.

        Yields to the event loop every `YIELD_EVERY` writes, so that a big tick (a high speed
        factor, a long Step) does not keep clients' requests and publish responses waiting.
        """
        write = server.iserver.aspace.write_attribute_value
        value_attr = ua.AttributeIds.Value
        values, actions = self.values, self.actions
        self.values, self.actions = [], []
        self._stamps = (-1.0, self._start, self._start)
        actions.append((len(values), None))
        done = 0
        for position, action in actions:
            for start in range(done, position, YIELD_EVERY):
                for nodeid, datavalue in values[start:min(start + YIELD_EVERY, position)]:
                    await write(nodeid, value_attr, datavalue)
                if position - start > YIELD_EVERY:
                    await asyncio.sleep(0)
            done = position
            if action is not None:
                await action()
