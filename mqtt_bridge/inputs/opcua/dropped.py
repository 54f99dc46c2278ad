"""Values the journal dropped at its bound: read again from the server's history, else a gap.

While the outputs cannot deliver, the journal keeps at most `journal_max_items` rows and drops
the oldest; once it has room again it says, per series, what it dropped (`drop_report.Dropped`:
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

Every number dropped arrives or is named: a value given back says which number it was
dropped under (`Sample.replaces`), the gap names the others (`Gap.seqs`):

>>> [s.replaces for s in late], gap.seqs
([6, 7], (5, 5))
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from asyncua import Client, ua

from mqtt_bridge.drop_report import Dropped
from mqtt_bridge.inputs.opcua.history import read_raw_history
from mqtt_bridge.inputs.opcua.structures import Structures
from mqtt_bridge.inputs.opcua.subscription import MonitoredVariable
from mqtt_bridge.inputs.opcua.values import plain, sample
from mqtt_bridge.sample import EventSample, Gap, MachinePath, Sample

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
        why: str, upto: int | None = None) -> Gap:
    """The gap record for (some of) the values dropped of `item`: which numbers, and why; it
    names the numbers `drop.first` to `upto` (default `drop.last`): those that do not come
    back."""
    last = drop.last if upto is None else upto
    return Gap(item.machine, item.group, item.tag, start, end,
               f"{drop.count} values (seq {drop.first} to {drop.last}) were dropped at the "
               f"journal's bound (journal_max_items) while the outputs could not deliver them; "
               f"{why}", item.node_id, (drop.first, last))


def events_gap(machine: MachinePath, group: str, drop: Dropped) -> Gap:
    """The gap record for a machine's events (`group` "events" or "alarms") dropped at the
    journal's bound: they are not read again (the journal keeps no event times)."""
    return Gap(machine, group, "", None, None,
               f"{drop.count} events (seq {drop.first} to {drop.last}) were dropped at the "
               f"journal's bound (journal_max_items) while the outputs could not deliver them; "
               f"events are not read again from history", seqs=(drop.first, drop.last))


async def read(
    client: Client, drops: list[tuple[MonitoredVariable, Dropped]],
    structures: Structures | None = None,
) -> list[list[ua.DataValue] | None]:
    """What history holds of each (variable, drop): its values with source times in the
    drop's span, oldest first; None for a variable the server keeps no history of after all."""
    if not drops:
        return []
    end = max(drop.until for _, drop in drops) + timedelta(milliseconds=1)
    histories = await read_raw_history(
        client, [(item.variable.node_id, drop.since) for item, drop in drops], end, structures)
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
    first = values[0].SourceTimestamp if values else None
    expired = first is None or first > drop.since  # the oldest are past the server's retention
    # Which number each value was dropped under: the dropped rows of a key are one run of
    # numbers, oldest first; where all were values and only the oldest are missing (past the
    # retention), the values given back are the newest of the run.
    whole = drop.values == drop.count == drop.last - drop.first + 1
    known = whole and (len(held) == drop.values or expired) and len(held) <= drop.values
    base = drop.last - len(held) + 1
    late = [sample(item.machine, item.group, item.tag, item.node_id, dv, plain(dv.Value),
                   late=True, replaces=base + i if known else None)
            for i, dv in enumerate(held)]
    if len(held) >= drop.values:
        return None, late
    upto = base - 1 if known else None
    if expired:
        return gap(item, drop, drop.since, first or drop.until, EXPIRED, upto), late
    return gap(item, drop, drop.since, drop.until,
               f"the server's history holds only {len(held)} of them", upto), late


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


class Room(Protocol):
    """How full the journal is that a read-back refills (`mqtt_bridge.journal.Journal`)."""

    max_items: int

    def room(self) -> int:
        """Rows it takes before it drops the oldest."""
        ...


ROOM_POLL_S = 0.05  # how often a read-back waiting for room looks again


async def refill(room: Room | None, results: list[tuple[list[Sample | Gap], Dropped]],
                 emit: Callable[..., None], settled: list[Dropped],
                 wait: Callable[[], Awaitable[None]] | None = None) -> None:
    """Hand on what a read-back gave (per drop: its late values and gap, and the report they
    settle) in parts the journal has room for, keeping a tenth of its bound free for live
    values, waiting while the outputs make room: a read-back never overflows the journal it
    refills (which would drop what it gives back, to be read again under new numbers). A
    report is settled with the part that holds the last of its items; `settled` collects the
    reports handed on, so a read-back cut short (the session ended) starts again from the
    others. `wait()`: what to do while there is no room (default: sleep `ROOM_POLL_S`)."""
    keep = 0 if room is None else max(1, room.max_items // 10)
    capacity = None if room is None else max(1, room.max_items - keep)
    part: list[Sample | EventSample | Gap] = []
    settles: list[Dropped] = []

    async def hand_on() -> None:
        nonlocal part, settles
        while room is not None and room.room() - keep < len(part):
            await (asyncio.sleep(ROOM_POLL_S) if wait is None else wait())
        emit(part, settles=settles)
        settled.extend(settles)
        part, settles = [], []

    for items, drop in results:
        for item in items:
            if capacity is not None and len(part) >= capacity:
                await hand_on()
            part.append(item)
        settles.append(drop)
    if part or settles:
        await hand_on()

