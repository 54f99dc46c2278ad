"""The sinks' cursors: where each one stands, its encoder, and what it reads next.

A cursor holds every row after the last one it acknowledged; acknowledgements only move
forward. A sink that keeps up reads its texts from the newest rows in memory (`recent.py`),
one that fell behind (a peer outage, a restart) from the file, committed rows only.

Not thread-safe by itself: the journal calls it under its lock.
"""

from __future__ import annotations

import re

from mqtt_bridge.journal.interface import Encoder, JournalEntry
from mqtt_bridge.journal.losses import Losses
from mqtt_bridge.journal.recent import RecentRows
from mqtt_bridge.journal.store import JournalFile

_CURSOR_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")


def check_name(cursor: str) -> None:
    if not _CURSOR_NAME.fullmatch(cursor):
        raise ValueError(f"journal cursor {cursor!r}: expected letters, digits or _")


class Cursors:
    """The registered cursors (`acked`: the last row each acknowledged) and their encoders."""

    def __init__(self, file: JournalFile, acked: dict[str, int], last_rowid: int) -> None:
        self.acked = acked
        self.read_upto: dict[str, int] = {}  # the last row each read (in flight if not acked)
        self._file = file
        self._encoders: dict[str, Encoder] = {}
        self.reindex(last_rowid)

    def position(self, name: str) -> int:
        try:
            return self.acked[name]
        except KeyError:
            raise KeyError(f"journal cursor {name!r} is not registered") from None

    def add(self, name: str, encode: Encoder, last_rowid: int) -> bool:
        """Register (a new cursor starts after `last_rowid`); True if it was new."""
        new = name not in self.acked
        self._file.add_cursor(name, last_rowid if new else None)
        if new:
            self.acked[name] = last_rowid
        self._encoders[name] = encode
        self.reindex(last_rowid)
        return new

    def remove(self, name: str, last_rowid: int) -> bool:
        self.read_upto.pop(name, None)
        removed = self.acked.pop(name, None) is not None
        if removed:
            self._file.remove_cursor(name)
        self._encoders.pop(name, None)
        self.reindex(last_rowid)
        return removed

    def ack(self, name: str, upto_rowid: int, losses: Losses | None = None) -> bool:
        """True if the cursor moved on. Rows dropped in flight that every cursor has now
        acknowledged were delivered (`losses`)."""
        if upto_rowid > self.position(name):
            self.acked[name] = upto_rowid
            if losses is not None and losses.held:
                losses.delivered(min(self.acked.values()))
            return True
        return False

    def in_flight_upto(self) -> tuple[int, int] | None:
        """(The last row every cursor has acknowledged, the last one every cursor has
        acknowledged or read: in flight); None: no cursor."""
        if not self.acked:
            return None
        read = self.read_upto
        return (min(self.acked.values()),
                min(max(acked, read.get(name, acked)) for name, acked in self.acked.items()))

    def _reading(self, name: str, after: int | None, losses: Losses | None) -> int:
        """Where a read after `after` (None: after the last ack) starts. A cursor that reads
        again from before rows it read already will not send them: those dropped at the
        bound meanwhile are lost after all (`Losses.rewound`)."""
        start = self.position(name) if after is None else after
        if losses is not None and losses.held and start < self.read_upto.get(name, start):
            losses.rewound(start, self.acked[name])
        return start

    def _have_read(self, name: str, start: int, rows: list) -> list:
        self.read_upto[name] = rows[-1][0] if rows else start
        return rows

    def reindex(self, last_rowid: int) -> None:
        """Fix the order of the encoders' texts in rows; rows held so far have another."""
        self.encoders = list(self._encoders.values())
        self._file.use_encoders(list(self._encoders))
        self._text_index = {cursor: 4 + i for i, cursor in enumerate(self._encoders)}
        self.recent = RecentRows(last_rowid + 1)

    def read(self, name: str, limit: int, after: int | None, first_kept: int,
             committed: int, losses: Losses | None = None) -> list[JournalEntry]:
        after = self._reading(name, after, losses)
        start, index, upto = self._window(name, limit, after, first_kept, committed)
        if index is not None:
            make = JournalEntry._make
            return self._have_read(name, after, [make((r[0], r[1], r[2], r[3], r[index]))
                                                 for r in self.recent.rows[start:upto]])
        return self._have_read(name, after, self._file.read(name, start, committed, limit))

    def read_texts(self, name: str, limit: int, after: int | None, first_kept: int,
                   committed: int, losses: Losses | None = None) -> list[tuple[int, str]]:
        after = self._reading(name, after, losses)
        start, index, upto = self._window(name, limit, after, first_kept, committed)
        if index is not None:
            return self._have_read(name, after,
                                   [(r[0], r[index]) for r in self.recent.rows[start:upto]])
        return self._have_read(name, after,
                               self._file.read_texts(name, start, committed, limit))

    def _window(self, name: str, limit: int, after: int | None, first_kept: int,
                committed: int) -> tuple[int, int | None, int]:
        """Where a read starts: (the row after which to read, the index of the cursor's text
        in memory or None to read the file, where to stop in memory)."""
        start = self.position(name) if after is None else after
        start = max(start, first_kept - 1)  # rows dropped at the bound are not read
        index = self._text_index.get(name)
        first = start + 1 - self.recent.first  # index of the first row wanted in memory
        if index is None or first < 0:
            return start, None, 0
        return first, index, min(first + limit, committed + 1 - self.recent.first)
