"""The newest rows, also kept in memory as appended, so that a sink that keeps up never reads
the file (reading back what was just written cost the bridge about a tenth of its time).

Rows are plain tuples `(rowid, seq, key, is_value, text of each encoder..., source time)`:
the garbage collector stops tracking tuples of strings and numbers, but not tuple subclasses,
and thousands of those arriving each second made it run a full collection (~100 ms) every
half second.

>>> recent = RecentRows(first=1, size=3)
>>> recent.remember([(1, "a"), (2, "b"), (3, "c"), (4, "d")])
>>> recent.first, [row[1] for row in recent.rows]
(2, ['b', 'c', 'd'])
"""

from __future__ import annotations

RECENT_ROWS = 20_000  # newest rows held in memory for the sinks (~10 MB)


class RecentRows:
    """A contiguous run of the newest rows: `rows[i]` has row id `first + i`."""

    __slots__ = ("first", "rows", "size")

    def __init__(self, first: int, size: int | None = None) -> None:
        self.rows: list[tuple] = []
        self.first = first
        self.size = RECENT_ROWS if size is None else size

    def remember(self, rows: list[tuple]) -> None:
        """Keep freshly appended rows (consecutive row ids), dropping the oldest beyond size."""
        if rows[0][0] != self.first + len(self.rows):  # not contiguous: start afresh
            self.rows.clear()
            self.first = rows[0][0]
        self.rows.extend(rows)
        self.forget_upto(rows[-1][0] - self.size)

    def forget_upto(self, rowid: int) -> None:
        """Let go of the rows up to `rowid` (the file still has those not deleted)."""
        drop = rowid + 1 - self.first
        if drop > 0:
            del self.rows[:drop]
            self.first += drop
