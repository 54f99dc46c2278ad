"""Values the journal dropped at its bound: read again from the server's history, else a gap.

While the outputs cannot deliver, the journal keeps at most `journal_max_items` rows and drops
the oldest; once it has room again it says, per series, what it dropped (`journal.Dropped`:
the sequence numbers, how many values, the span of their source times). The one rule
(`unrecoverable`): the dropped values of a variable the server historizes, with their source
times known, are read again from its history for that span (`read`) and handed on *late*: with
new sequence numbers after the values delivered meanwhile, not as the variable's current
value. A gap record names whatever history does not give back (`regained`): all of a variable
it does not historize, those older than its retention, all of them if reading failed; and
every event dropped (`events_gap`).

>>> from datetime import UTC, datetime
>>> from mqtt_bridge.sample import MachinePath
>>> class Variable:  # what the rule asks of a monitored variable
...     historizing = True
>>> class Item:
...     machine = MachinePath("f", "s", "a", "l", "press", "PressType")
...     group, tag, node_id, variable = "monitoring", "Temperature", "ns=2;s=T", Variable()
>>> t1, t2, t3 = (datetime(2026, 6, 1, 0, 0, s, tzinfo=UTC) for s in (1, 2, 3))
>>> drop = Dropped(5, 7, 3, since=t1, until=t3, values=3, at_since=1, at_until=1)
>>> unrecoverable(Item(), drop, backfill=True) is None  # read it again
True
>>> history = [ua.DataValue(ua.Variant(v), SourceTimestamp=t) for v, t in [(2, t2), (3, t3)]]
>>> gap, late = regained(Item(), drop, history)  # the first one is past the retention
>>> [s.value for s in late], [s.late for s in late], (gap.start, gap.end) == (t1, t2)
([2, 3], [True, True], True)
"""

from __future__ import annotations

from datetime import datetime, timedelta

from asyncua import Client, ua

from mqtt_bridge.inputs.opcua.history import read_raw_history
from mqtt_bridge.inputs.opcua.subscription import MonitoredVariable
from mqtt_bridge.inputs.opcua.values import plain, sample
from mqtt_bridge.journal import Dropped
from mqtt_bridge.sample import Gap, MachinePath, Sample

# why dropped values are not read again, or not all of them come back
NO_HISTORY = "the server keeps no history of it"
HISTORY_OFF = "reading history is off (--no-backfill)"
NO_TIMES = "their source times are unknown (journaled by an older bridge version)"
READ_FAILED = "reading the server's history of them failed"
EXPIRED = "the server's history no longer holds those before the gap's end"
AMBIGUOUS = ("its history holds more values at that one source time than were dropped: which "
             "of them were is unknown")


def unrecoverable(item: MonitoredVariable, drop: Dropped, backfill: bool) -> str | None:
    """Why the dropped values of the monitored variable `item` cannot be read again from
    history, or None: they are read again."""
    if not backfill:
        return HISTORY_OFF
    if not item.variable.historizing:
        return NO_HISTORY
    if drop.since is None or drop.until is None:
        return NO_TIMES
    return None


def gap(item: MonitoredVariable, drop: Dropped, start: datetime | None, end: datetime | None,
        why: str) -> Gap:
    """The gap record for (some of) the values dropped of `item`: which numbers, and why."""
    return Gap(item.machine, item.group, item.tag, start, end,
               f"{drop.count} values (seq {drop.first} to {drop.last}) were dropped at the "
               f"journal's bound (journal_max_items) while the outputs could not deliver them; "
               f"{why}", item.node_id)


def events_gap(machine: MachinePath, group: str, drop: Dropped) -> Gap:
    """The gap record for a machine's events (`group` "events" or "alarms") dropped at the
    journal's bound: they are not read again (the journal keeps no event times)."""
    return Gap(machine, group, "", None, None,
               f"{drop.count} events (seq {drop.first} to {drop.last}) were dropped at the "
               f"journal's bound (journal_max_items) while the outputs could not deliver them; "
               f"events are not read again from history")


async def read(
    client: Client, drops: list[tuple[MonitoredVariable, Dropped]]
) -> list[list[ua.DataValue] | None]:
    """What history holds of each (variable, drop): its values with source times in the
    drop's span, oldest first; None for a variable the server keeps no history of after all."""
    if not drops:
        return []
    end = max(drop.until for _, drop in drops) + timedelta(milliseconds=1)
    histories = await read_raw_history(
        client, [(item.variable.node_id, drop.since) for item, drop in drops], end)
    return [
        None if values is None else [dv for dv in values if dv.SourceTimestamp is not None
                                     and dv.SourceTimestamp <= drop.until]
        for (_, drop), values in zip(drops, histories, strict=True)
    ]


def regained(item: MonitoredVariable, drop: Dropped,
             values: list[ua.DataValue] | None) -> tuple[Gap | None, list[Sample]]:
    """What history gave back of the dropped values of `item` (`values`: what `read` found,
    None if reading failed), as late Samples; and the gap for what it did not give back."""
    if values is None:
        return gap(item, drop, drop.since, drop.until, READ_FAILED), []
    held = were_dropped(values, drop)
    if held is None:
        return gap(item, drop, drop.since, drop.until, AMBIGUOUS), []
    late = [sample(item.machine, item.group, item.tag, item.node_id, dv, plain(dv.Value),
                   late=True) for dv in held]
    if len(held) >= drop.values:
        return None, late
    first = values[0].SourceTimestamp if values else None
    if first is None or first > drop.since:  # the oldest are past the server's retention
        return gap(item, drop, drop.since, first or drop.until, EXPIRED), late
    return gap(item, drop, drop.since, drop.until,
               f"the server's history holds only {len(held)} of them"), late


def were_dropped(held: list[ua.DataValue], drop: Dropped) -> list[ua.DataValue] | None:
    """Of what history holds from `drop.since` to `drop.until` (oldest first), the values the
    journal dropped: others may share a boundary's time, delivered before (at `since`, they
    come first) or after (at `until`, they come last). None if they cannot be told apart (all
    at one time, and more of them than were dropped).

    >>> from datetime import UTC, datetime
    >>> t1, t2, t3 = (datetime(2026, 6, 1, 0, 0, s, tzinfo=UTC) for s in (1, 2, 3))
    >>> held = [ua.DataValue(ua.Variant(v), SourceTimestamp=t)
    ...         for v, t in [(1, t1), (2, t1), (3, t2), (4, t3), (5, t3)]]
    >>> dropped = Dropped(7, 9, 3, since=t1, until=t3, values=3, at_since=1, at_until=1)
    >>> [dv.Value.Value for dv in were_dropped(held, dropped)]  # 1 and 5: not dropped
    [2, 3, 4]
    >>> were_dropped(held[:2], Dropped(7, 7, 1, since=t1, until=t1, values=1)) is None
    True
    """
    if drop.since == drop.until:
        return held if len(held) <= drop.values else None
    first = [dv for dv in held if dv.SourceTimestamp == drop.since]
    inside = [dv for dv in held if drop.since < dv.SourceTimestamp < drop.until]
    last = [dv for dv in held if dv.SourceTimestamp == drop.until]
    return first[max(0, len(first) - drop.at_since):] + inside + last[:drop.at_until]
