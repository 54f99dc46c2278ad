"""The hold/release gate: notifications wait while history is read, then pass without repeats.

Two situations hold live notifications back:

1. machines being subscribed: values and events from the moment their monitored items exist
   until their gap has been read from history and handed on (`hold()` ... `release()`);
2. an overflow: a value with the Overflow bit says the server dropped older values of that
   variable from a full queue. If its history can close the gap, values (not events) are held
   from that value on while the dropped ones are read (`sift()` starts the hold).

On release, the held values pass through `sift()` with what history `covered`: per series, a
`Cover` of the changes (source timestamp and value) read from history. A value that is one of
them was handed on from history already (a repeat, as `LastSeen` defines it: same series, same
source timestamp, same value) and is skipped; any other value passes, even an older one (a
server that restarted with a fresh simulated clock stamps its new values older than those
handed on before). Values still in flight at the server when history was read arrive after the
release: a series keeps its cover until a value passes that is at or after the newest change
read, or before the time the read started from (its clock went back: it cannot be in flight).
One hold at a time: whoever holds releases before the next hold starts.

>>> from dataclasses import dataclass
>>> from asyncua import ua
>>> @dataclass
... class Series:
...     key: str
>>> gate = Gate()
>>> gate.hold()
>>> gate.admit([(Series("t"), ua.DataValue(1.0))]), gate.holding
(True, True)
>>> values, events = gate.release()
>>> len(values), events, gate.holding
(1, [], False)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

from asyncua import ua

from mqtt_bridge.inputs.opcua.values import plain

# InfoType DataValue + Overflow: the server's queue for the item was full and dropped values.
OVERFLOW_BITS = 0x0480


class Series(Protocol):
    key: str


Pair = tuple[Any, ua.DataValue]  # (the series a value belongs to, the value)


class Cover:
    """The changes of one series read from history (since `since`, the source time the read
    started from), to tell their repeats among live values."""

    __slots__ = ("_changes", "newest", "since")

    def __init__(self, since: datetime | None,
                 changes: Iterable[tuple[datetime | None, object]]) -> None:
        self.since = since
        self._changes: dict[datetime, list[object]] = {}
        for stamp, value in changes:
            if stamp is not None:
                self._changes.setdefault(stamp, []).append(value)
        self.newest: datetime | None = max(self._changes, default=None)

    def __bool__(self) -> bool:
        return bool(self._changes)

    def __repr__(self) -> str:
        return f"Cover(since={self.since}, newest={self.newest}, {len(self._changes)} times)"

    def has(self, stamp: datetime, value: object) -> bool:
        """Whether history handed on this change (same source timestamp, same value)."""
        return value in self._changes.get(stamp, ())

    def ends_at(self, stamp: datetime) -> bool:
        """Whether a value at `stamp` that is no repeat ends the cover: it is at or after the
        newest change read, or before where the read started (the clock went back)."""
        return ((self.newest is not None and stamp >= self.newest)
                or (self.since is not None and stamp < self.since))


def overflowed(dv: ua.DataValue) -> bool:
    status = dv.StatusCode
    return status is not None and status.value & OVERFLOW_BITS == OVERFLOW_BITS


def mark_full_queues(notifications: list[ua.MonitoredItemNotification], queue_size: int) -> int:
    """Where one publish response holds `queue_size` (> 1) values of an item, its queue at the
    server was full and may have discarded older values: the oldest value received gets the
    Overflow bit if the server did not set it, so its gap is read from history (or named by a
    gap record). OPC 10000-4 (5.12.1.5) makes the server set the bit, but asyncua's server
    (2.1) discards the oldest of a full queue without it: values were lost without a trace
    (issue 23). Returns how many values were marked; a queue of one never overflows.

    >>> n = [ua.MonitoredItemNotification(ClientHandle=h, Value=ua.DataValue(float(v)))
    ...      for v, h in enumerate([1, 2, 1, 1])]
    >>> mark_full_queues(n, 3), [overflowed(x.Value) for x in n]
    (1, [True, False, False, False])
    """
    if queue_size < 2 or len(notifications) < queue_size:
        return 0
    counts = Counter(n.ClientHandle for n in notifications)
    full = {handle for handle, count in counts.items() if count >= queue_size}
    marked = 0
    for notification in notifications:
        if not full:
            break
        if notification.ClientHandle in full:
            full.discard(notification.ClientHandle)
            dv = notification.Value
            if not overflowed(dv):
                code = 0 if dv.StatusCode is None else dv.StatusCode.value
                dv.StatusCode = ua.StatusCode(code | OVERFLOW_BITS)
                marked += 1
    return marked


class Gate:
    """See the module docstring."""

    def __init__(self) -> None:
        self._values: list[Pair] | None = None  # None: not holding
        self._events: list[Any] | None = None

    @property
    def holding(self) -> bool:
        return self._values is not None

    def hold(self, values: list[Pair] | None = None, events: bool = True) -> None:
        """Hold values back from now on (starting with `values`), and events too if asked."""
        self._values = list(values or [])
        self._events = [] if events else None

    def admit(self, pairs: list[Pair]) -> bool:
        """Keep `pairs` back if the gate is holding values; say whether."""
        if self._values is None:
            return False
        self._values.extend(pairs)
        return True

    def admit_events(self, events: list[Any]) -> bool:
        """Keep `events` back if the gate is holding events; say whether."""
        if self._events is None:
            return False
        self._events.extend(events)
        return True

    def release(self) -> tuple[list[Pair], list[Any]]:
        """Stop holding; return what was held, values and events, in arrival order."""
        values, self._values = self._values or [], None
        events, self._events = self._events or [], None
        return values, events

    def sift(
        self,
        pairs: list[Pair],
        covered: dict[str, Cover],
        on_overflow: Callable[[Any], bool],
        recovered: str | None = None,
    ) -> tuple[list[Pair], int]:
        """What of `pairs` to hand on now, in order, and how many history covered already.

        A value that is one of the changes its series' `Cover` holds is skipped (history
        handed it on); a value that passes and `ends_at` the cover removes it from `covered`. At
        a value with the Overflow bit (unless its series is the one whose gap was just
        `recovered`), `on_overflow(series)` says whether its gap is being read from history:
        if so, the gate holds that value and everything after it, and sifting stops there."""
        passed: list[Pair] = []
        skipped = 0
        for index, (series, dv) in enumerate(pairs):
            cover = covered.get(series.key) if covered else None
            stamp = dv.SourceTimestamp
            if cover is not None and stamp is not None:
                if cover.has(stamp, plain(dv.Value)):
                    skipped += 1
                    continue
                if cover.ends_at(stamp):
                    del covered[series.key]
            if overflowed(dv) and series.key != recovered and on_overflow(series):
                self.hold(pairs[index:], events=False)
                break
            passed.append((series, dv))
        return passed, skipped
