"""The updates one pacing tick produces, applied to the address space in one go.

Model events arrive synchronously while the plant runs; writing to asyncua is asynchronous.
Views turn events into `Writes` (values with their simulated source time, plus the OPC UA
events and alarms to fire), and the server applies them after each tick, in order, through
`server.write_attribute_value` — the cheapest write path asyncua has (PERF-NOTES lever 3).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from asyncua import ua

GOOD = ua.StatusCode(ua.StatusCodes.Good)


class Writes:
    """An ordered batch of value writes and asynchronous actions (events, alarms)."""

    __slots__ = ("_start", "actions", "values")

    def __init__(self, start: datetime) -> None:
        self._start = start
        self.values: list[tuple[ua.NodeId, ua.DataValue]] = []
        self.actions: list[tuple[int, Callable[[], Awaitable[None]]]] = []

    def source_time(self, sim_time: float) -> datetime:
        """Wall-clock time of a simulated moment: the plant's start plus the simulated seconds."""
        return self._start + timedelta(seconds=sim_time)

    def value(self, nodeid: ua.NodeId, variant: ua.Variant, sim_time: float,
              status: ua.StatusCode = GOOD) -> None:
        self.values.append((nodeid, ua.DataValue(
            Value=variant, StatusCode=status, SourceTimestamp=self.source_time(sim_time),
            ServerTimestamp=datetime.now(UTC),
        )))

    def action(self, action: Callable[[], Awaitable[None]]) -> None:
        """Run `action` after the values written so far (keeps events in step with values)."""
        self.actions.append((len(self.values), action))

    def __len__(self) -> int:
        return len(self.values) + len(self.actions)

    async def apply(self, server) -> None:
        """Write everything to `server` in order, then forget it."""
        write = server.iserver.aspace.write_attribute_value
        value_attr = ua.AttributeIds.Value
        values, actions = self.values, self.actions
        self.values, self.actions = [], []
        done = 0
        for position, action in actions:
            for nodeid, datavalue in values[done:position]:
                await write(nodeid, value_attr, datavalue)
            done = position
            await action()
        for nodeid, datavalue in values[done:]:
            await write(nodeid, value_attr, datavalue)
