"""Rows dropped at the journal's bound, and the reports that name them until they are settled.

An episode starts when an append finds the journal full (the oldest rows go, counted per key:
sequence numbers and the span of their values' source times) and ends when there is room
again; then its reports (`Dropped`, one per key) are ready. Whoever recovers them is told
(`on_lost` listeners: pushed, not polled) and takes them once per process (`take`). A report is
stored with the commit that stores the drop and deleted by the commit that stores the items
settling it (values read back, or a gap record: `settle`): after a crash or a stop in between,
it is handed out again.

A row dropped while every sink holds it in flight (read and sent, not yet acknowledged) is not
lost yet: it is *held* (`hold`) until every sink acknowledged it (`delivered`: it is left out
of the report, else it would come back from history a second time) or a sink reads again from
before it (`rewound`: that sink will never send it, it is lost like the others). The report
stored meanwhile names the held rows too, so a bridge killed before either knows nothing less
than before: at worst a value delivered comes back once more.

Not thread-safe by itself: the journal calls it under its lock.

>>> from datetime import UTC, datetime
>>> t = datetime(2026, 6, 1, tzinfo=UTC)
>>> losses = Losses({}, dropped=0)
>>> losses.drop(2, [("a/b", 7, t), ("a/b", 8, None)])
>>> losses.end_episode()  # rows it dropped
2
>>> [(r.key, r.first, r.last, r.count, r.values) for r in losses.take()]
[('a/b', 7, 8, 2, 1)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from mqtt_bridge.drop_report import Dropped

Key = tuple[str, int]  # a report's key and its first sequence number


class _Loss:
    """Adds up a key's `Dropped`, row by row."""

    __slots__ = ("at_since", "at_until", "count", "first", "last", "since", "until", "values")

    def __init__(self, seq: int) -> None:
        self.first = self.last = seq
        self.count = self.values = self.at_since = self.at_until = 0
        self.since: datetime | None = None
        self.until: datetime | None = None

    def add(self, seq: int, stamp: datetime | None) -> None:
        self.first, self.last = min(self.first, seq), max(self.last, seq)
        self.count += 1
        if stamp is None:
            return
        self.values += 1
        if self.since is None or stamp < self.since:
            self.since, self.at_since = stamp, 0
        if stamp == self.since:
            self.at_since += 1
        if self.until is None or stamp > self.until:
            self.until, self.at_until = stamp, 0
        if stamp == self.until:
            self.at_until += 1

    def report(self, key: str) -> Dropped:
        return Dropped(self.first, self.last, self.count, self.since, self.until, self.values,
                       self.at_since, self.at_until, key)

    def copy(self) -> _Loss:
        other = _Loss(self.first)
        for name in self.__slots__:
            setattr(other, name, getattr(self, name))
        return other


class Losses:
    """The drop episodes of one journal and their reports (see the module docstring)."""

    def __init__(self, unsettled: dict[Key, Dropped], dropped: int) -> None:
        self.dropped = dropped  # rows ever dropped at the bound
        self.since: int | None = None  # `dropped` when the current episode began; None: none
        self._lost: dict[str, _Loss] = {}  # what the current episode dropped, per key
        self._touched: set[str] = set()  # keys of `_lost` changed since the last commit
        self._done = unsettled  # reports of ended episodes not yet taken (or left unsettled)
        self._to_store: dict[Key, Dropped] = {}
        self._to_forget: set[Key] = set()
        self._listeners: list[Callable[[], None]] = []
        self._ready = False  # reports became ready: tell the listeners
        # rows dropped while every sink had them in flight: rowid -> (key, seq, source time)
        self._held: dict[int, tuple[str, int, datetime | None]] = {}
        self._stored_first: dict[str, int] = {}  # the episode's report stored per key

    @property
    def dropping(self) -> bool:
        return self.since is not None

    def drop(self, count: int, rows: Iterable[tuple[str, int, datetime | None]]) -> None:
        """`count` rows dropped at the bound, each `(key, seq, source time)`; starts an
        episode if none is under way."""
        if self.since is None:
            self.since = self.dropped
        self.dropped += count
        lost = self._lost
        for key, seq, stamp in rows:
            self._touched.add(key)
            loss = lost.get(key)
            if loss is None:
                loss = lost[key] = _Loss(seq)
            loss.add(seq, stamp)

    def drop_at_bound(self, first: int, rows: list[tuple[str, int, datetime | None]],
                      in_flight: tuple[int, int] | None) -> None:
        """The rows from row id `first` on, each `(key, seq, source time)`, dropped at the
        bound; `in_flight`: (the last row every sink acknowledged, the last one every sink
        acknowledged or has in flight), or None. Those acknowledged were delivered (the next
        commit would delete them); those in flight are held; the others are lost."""
        flight = first - 1 if in_flight is None else in_flight[1]
        held = max(0, min(flight - first + 1, len(rows)))
        if held:
            self.hold(held, [(first + i, *row) for i, row in enumerate(rows[:held])])
            self.delivered(in_flight[0])
        if held < len(rows):
            self.drop(len(rows) - held, rows[held:])

    def hold(self, count: int, rows: Iterable[tuple[int, str, int, datetime | None]]) -> None:
        """`count` rows dropped at the bound while every sink had them in flight, each
        `(rowid, key, seq, source time)`: reported only if a sink does not deliver them."""
        if self.since is None:
            self.since = self.dropped
        self.dropped += count
        for rowid, key, seq, stamp in rows:
            self._held[rowid] = (key, seq, stamp)
            self._touched.add(key)

    @property
    def held(self) -> int:
        return len(self._held)

    def delivered(self, upto_rowid: int) -> None:
        """Every sink acknowledged the rows up to `upto_rowid`: those held are not lost."""
        for rowid in [r for r in self._held if r <= upto_rowid]:
            self._touched.add(self._held.pop(rowid)[0])

    def rewound(self, after_rowid: int, acked: int) -> None:
        """A sink that acknowledged up to `acked` reads again after `after_rowid`: the rows
        held after both are lost (it will not send them, and cannot read them again)."""
        for rowid in [r for r in self._held if r > max(after_rowid, acked)]:
            key, seq, stamp = self._held.pop(rowid)
            self.drop(0, [(key, seq, stamp)])

    def end_episode(self) -> int:
        """There is room again: the episode's reports are ready. Returns the rows it dropped."""
        if self._held:  # (every sink acknowledged them by now, normally)
            oldest = min(self._held) - 1
            self.rewound(oldest, oldest)
        count = self.dropped - (self.since or 0)
        self.since = None
        self._ready = True
        self._stage()
        self._done.update(((key, loss.first), loss.report(key))
                          for key, loss in self._lost.items())
        self._lost = {}
        self._stored_first = {}
        return count

    def take(self) -> list[Dropped]:
        """The reports of ended episodes, each once per process; none while dropping (what
        was given back would be dropped again)."""
        if self.since is not None:
            return []
        done, self._done = self._done, {}
        return list(done.values())

    def settle(self, reports: Iterable[Dropped]) -> bool:
        """The items appended now settle these reports: forget them with the next commit."""
        settled = False
        for report in reports:
            self._to_store.pop((report.key, report.first), None)
            self._to_forget.add((report.key, report.first))
            settled = True
        return settled

    def on_lost(self, listener: Callable[[], None]) -> bool:
        """Add a listener; True if reports are ready already (call it at once)."""
        self._listeners.append(listener)
        return bool(self._done)

    def listeners_to_tell(self) -> list[Callable[[], None]]:
        """The listeners, once after reports became ready; else none."""
        if not self._ready:
            return []
        self._ready = False
        return list(self._listeners)

    def take_writes(self) -> tuple[dict[Key, Dropped], set[Key]]:
        """For a commit: (reports to store, reports to delete); pending starts empty again."""
        self._stage()
        writes = self._to_store, self._to_forget
        self._to_store, self._to_forget = {}, set()
        return writes

    def restore_writes(self, store: dict[Key, Dropped], forget: set[Key]) -> None:
        """A commit failed: its writes are pending again (a settle since is applied after)."""
        for key, report in store.items():
            self._to_store.setdefault(key, report)
        self._to_forget |= forget

    def _stage(self) -> None:
        """Stage the report of each key changed: what it lost, and what is held (in case the
        process dies before the sinks said whether they delivered it)."""
        if not self._touched:
            return
        held: dict[str, list[tuple[int, datetime | None]]] = {}
        for key, seq, stamp in self._held.values():
            if key in self._touched:
                held.setdefault(key, []).append((seq, stamp))
        for key in self._touched:
            loss = self._lost.get(key)
            if key in held:
                rows = sorted(held[key], key=lambda row: row[0])
                loss = loss.copy() if loss is not None else _Loss(rows[0][0])
                for seq, stamp in rows:
                    loss.add(seq, stamp)
            stored = self._stored_first.pop(key, None)
            if stored is not None and (loss is None or loss.first != stored):
                self._to_store.pop((key, stored), None)
                self._to_forget.add((key, stored))
            if loss is not None:
                self._to_store[(key, loss.first)] = loss.report(key)
                self._to_forget.discard((key, loss.first))
                self._stored_first[key] = loss.first
        self._touched.clear()
