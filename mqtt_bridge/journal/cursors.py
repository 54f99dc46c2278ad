"""The sinks' cursors: where each one stands, its encoder, and what it reads next.

A cursor holds every row after the last one it acknowledged; acknowledgements only move
forward. A sink that keeps up reads its texts from the newest rows in memory (`recent.py`),
one that fell behind (a peer outage, a restart) from the file, committed rows only.

Not thread-safe by itself: the journal calls it under its lock.
"""

from __future__ import annotations

import re

from mqtt_bridge.journal.interface import Encoder, JournalEntry
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
        removed = self.acked.pop(name, None) is not None
        if removed:
            self._file.remove_cursor(name)
        self._encoders.pop(name, None)
        self.reindex(last_rowid)
        return removed

    def ack(self, name: str, upto_rowid: int) -> bool:
        """True if the cursor moved on."""
        if upto_rowid > self.position(name):
            self.acked[name] = upto_rowid
            return True
        return False

    def reindex(self, last_rowid: int) -> None:
        """Fix the order of the encoders' texts in rows; rows held so far have another."""
        self.encoders = list(self._encoders.values())
        self._file.use_encoders(list(self._encoders))
        self._text_index = {cursor: 4 + i for i, cursor in enumerate(self._encoders)}
        self.recent = RecentRows(last_rowid + 1)

    def read(self, name: str, limit: int, after: int | None, first_kept: int,
             committed: int) -> list[JournalEntry]:
        start, index, upto = self._window(name, limit, after, first_kept, committed)
        if index is not None:
            make = JournalEntry._make
            return [make((r[0], r[1], r[2], r[3], r[index])) for r in self.recent.rows[start:upto]]
        return self._file.read(name, start, committed, limit)

    def read_texts(self, name: str, limit: int, after: int | None, first_kept: int,
                   committed: int) -> list[tuple[int, str]]:
        start, index, upto = self._window(name, limit, after, first_kept, committed)
        if index is not None:
            return [(r[0], r[index]) for r in self.recent.rows[start:upto]]
        return self._file.read_texts(name, start, committed, limit)

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
