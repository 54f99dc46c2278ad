"""Changes the server cannot give back: which series expect a gap, and the records that say so.

Where a variable may have changed while its changes could not be read and the server cannot
give them back, the source `expect`s a gap for its series. The first value after it then
decides: the last value handed on again means nothing changed (no gap); anything else is
preceded by a `Gap` from the last value handed on to this one, with the reason. Each batch's
gaps are one warning line.

>>> from datetime import UTC, datetime
>>> from mqtt_bridge.inputs.opcua.last_seen import LastSeen
>>> from mqtt_bridge.sample import MachinePath
>>> seen, gaps = LastSeen(), Gaps()
>>> t1, t2 = datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 2, tzinfo=UTC)
>>> press = MachinePath("f", "s", "a", "l", "press", "PressType")
>>> seen.is_new(press.topic("counters", "Runs"), t1, 7)
True
>>> gaps.expect(press.topic("counters", "Runs"), NOT_HISTORIZED)
>>> gaps.before(press, "counters", "Runs", "", t1, 7, seen)  # the same value again: no gap
[]
>>> gaps.expect(press.topic("counters", "Runs"), NOT_HISTORIZED)
>>> [(gap.start, gap.end) == (t1, t2) for gap in gaps.before(press, "counters", "Runs", "",
...                                                          t2, 9, seen)]
[True]
>>> bool(gaps)
False

After a server restart whose clock went back, only a value older than the last one handed on
comes after a gap (`expect_back`), from an unknown start:

>>> gaps.expect_back(press.topic("counters", "Runs"), CLOCK_BACK)
>>> gaps.before(press, "counters", "Runs", "", t2, 10, seen)  # newer: nothing went back
[]
>>> seen.is_new(press.topic("counters", "Runs"), t2, 10)
True
>>> gaps.expect_back(press.topic("counters", "Runs"), CLOCK_BACK)
>>> [(gap.start, gap.end) for gap in gaps.before(press, "counters", "Runs", "", t1, 0, seen)]
[(None, datetime.datetime(2026, 6, 1, 0, 0, tzinfo=datetime.timezone.utc))]

A gap never runs backwards: where an expected gap's first value is older than the last one
handed on, its start is unknown too:

>>> gaps.expect(press.topic("counters", "Runs"), RESTARTED)
>>> [(gap.start, gap.end) for gap in gaps.before(press, "counters", "Runs", "", t1, 0, seen)]
[(None, datetime.datetime(2026, 6, 1, 0, 0, tzinfo=datetime.timezone.utc))]
"""

from __future__ import annotations

import logging
from datetime import datetime

from mqtt_bridge.inputs.opcua.last_seen import LastSeen
from mqtt_bridge.sample import Gap, MachinePath

log = logging.getLogger(__name__)

NAMED_PER_WARNING = 5  # gaps named in one warning line
# why a gap's values cannot be given back
NOT_HISTORIZED = "changed while the bridge could not read it; the server keeps no history of it"
BACKFILL_OFF = "changed while the bridge could not read it; reading history is off (--no-backfill)"
OVERFLOW_LOST = "the server's queue for it overflowed; the server keeps no history of it"
HISTORY_FAILED = "reading the server's history of it failed"
RESTARTED = "the OPC UA server restarted; its history does not cover the time since"
# why a machine's events since the last one handed on cannot be given back
EVENTS_NOT_HISTORIZED = ("events may have occurred while the bridge could not read them; the "
                         "server keeps no event history of this machine")
EVENTS_BACKFILL_OFF = ("events may have occurred while the bridge could not read them; reading "
                       "history is off (--no-backfill)")
EVENTS_HISTORY_FAILED = ("events may have occurred while the bridge could not read them; "
                         "reading the server's event history of this machine failed")
EVENTS_OVERFLOW_LOST = ("the server discarded events from its full event queue for the bridge; "
                        "they cannot be read again from its event history")
EVENT_GROUPS = ("events", "alarms")  # a machine's two event sequences (`EventSample.key`)
CLOCK_BACK = ("the OPC UA server restarted and its clock went back; what it changed since its "
              "restart before this value is older than the values handed on before and cannot "
              "be read apart from them")


class Gaps:
    """The series whose next new value comes after lost changes."""

    def __init__(self) -> None:
        self._expected: dict[str, str] = {}  # series key -> why its changes are lost
        # series key -> why, if its next value goes back in time (`expect_back`)
        self._back: dict[str, str] = {}

    def __bool__(self) -> bool:
        return bool(self._expected) or bool(self._back)

    def __contains__(self, key: str) -> bool:
        return key in self._expected or key in self._back

    def expect(self, key: str, reason: str) -> None:
        self._expected[key] = reason

    def expect_back(self, key: str, reason: str) -> None:
        """A gap only if the series' next value is older than the last one handed on (a
        restarted server's clock went back): it comes after changes that cannot be read, from
        an unknown start (`Gap.start` None) to it."""
        self._back[key] = reason

    def before(self, machine: MachinePath, group: str, tag: str, node_id: str,
               end: datetime | None, value: object, last_seen: LastSeen) -> list[Gap]:
        """For the first value (source time `end`) of an expected series, called before
        `last_seen.is_new`: the Gap to hand on before it, or none if it is the last value
        handed on again (nothing changed)."""
        key = machine.topic(group, tag)
        reason = self._expected.pop(key, None)
        back = self._back.pop(key, None)
        start = last_seen.times.get(key)
        if reason is None:
            if back is None or start is None or end is None or end >= start:
                return []
            return [Gap(machine, group, tag, None, end, back, node_id)]
        if start == end and last_seen.values.get(key) == value:
            return []
        if start is not None and end is not None and end < start:
            # The server's clock went back (a restarted simulator): the lost changes lie before
            # `end` on its new clock, from a start unknown; a gap never runs backwards.
            return [Gap(machine, group, tag, None, end, f"{reason}; {CLOCK_BACK}", node_id)]
        return [Gap(machine, group, tag, start, end, reason, node_id)]


def event_gap_records(machine: MachinePath, start: datetime | None, reason: str,
                      groups: tuple[str, ...] = EVENT_GROUPS) -> list[Gap]:
    """The gap records in a machine's events and alarms (and job orders, `groups`) since
    `start` (the time of the last event handed on), up to now: which of the sequences lost
    events is unknown."""
    return [Gap(machine, group, "", start, None, reason) for group in groups]


def warn(gaps: list[Gap]) -> None:
    """One warning line for the gaps of one batch."""
    named = "; ".join(f"{g.key} from {g.start} to {g.end}: {g.reason}"
                      for g in gaps[:NAMED_PER_WARNING])
    more = len(gaps) - NAMED_PER_WARNING
    log.warning("%d series lost changes (gap records published on their topics): %s%s",
                len(gaps), named, f"; and {more} more" if more > 0 else "")
