"""What was appended and changed since the last commit: handed to the commit thread as one
`Batch`, and taken back, in front of what came since, if writing it failed.

Not thread-safe by itself: the journal calls it under its lock.
"""

from __future__ import annotations

from mqtt_bridge.journal.losses import Losses
from mqtt_bridge.journal.store import Batch


class Pending:
    """The journal's changes not yet in the file."""

    __slots__ = ("count", "kept", "keys", "marks", "rows", "state")

    def __init__(self) -> None:
        self.rows: list[tuple] = []  # appended rows not yet in the file, oldest first
        self.keys: set[str] = set()  # keys whose sequence number moved on
        self.marks: dict[str, object] = {}
        self.kept: dict[tuple[str, str], str] = {}
        self.state = False  # cursors, counters, marks or reports changed
        self.count = 0  # rows appended since the last commit

    def __bool__(self) -> bool:
        return bool(self.rows or self.state or self.keys)

    def take(self, *, seqs: dict[str, int], cursors: dict[str, int], counters: dict[str, int],
             losses: Losses, delete_upto: int | None, last_rowid: int) -> Batch:
        """Everything pending, as one batch; pending starts empty again."""
        lost, settled = losses.take_writes()
        state = self.state
        batch = Batch(
            rows=self.rows, keys=self.keys, seqs=[(key, seqs[key]) for key in self.keys],
            marks=self.marks, kept=self.kept, lost=lost, settled=settled,
            cursors=[(acked, name) for name, acked in cursors.items()] if state else [],
            counters=list(counters.items()) if state else [],
            delete_upto=delete_upto, last_rowid=last_rowid,
        )
        self.rows, self.keys, self.marks, self.kept = [], set(), {}, {}
        self.state = False
        self.count = 0
        return batch

    def restore(self, batch: Batch, first_kept: int, losses: Losses) -> None:
        """Writing `batch` failed: it is pending again, before what was appended since, except
        rows dropped at the bound meanwhile; newer marks and kept texts win."""
        rows = batch.rows[max(first_kept - batch.rows[0][0], 0):] if batch.rows else []
        self.rows[:0] = rows
        self.count += len(rows)
        self.keys |= batch.keys
        for key, mark in batch.marks.items():
            self.marks.setdefault(key, mark)
        for key, text in batch.kept.items():
            self.kept.setdefault(key, text)
        losses.restore_writes(batch.lost, batch.settled)
        self.state = True

    def drop_upto(self, rowid: int) -> None:
        """Rows up to `rowid` were dropped at the bound before they reached the file."""
        rows = self.rows
        if rows and rows[0][0] <= rowid:
            del rows[:rowid - rows[0][0] + 1]
