"""The journal's SQLite file: its layout, the one process that may use it, and the batches
the commit thread writes to it in one transaction each.

Each sink's encoded texts sit in that cursor's own column of `entries`, `text_{cursor}`, added
when the cursor first registers: one row insert per item whatever the number of sinks (a table
per cursor cost SQLite an insert and a delete per sink and item), and a further output needs
no schema change by hand. WAL mode with `synchronous=NORMAL` keeps committed rows across a
process crash (not a power loss) without an fsync per commit. Readers use their own
connection: they see committed rows only and never share a connection with a write in
progress. The file holds only text, never pickle: safe to open with `sqlite3`.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from mqtt_bridge.drop_report import Dropped, from_micros, micros
from mqtt_bridge.journal.interface import JournalEntry, JournalError
from mqtt_bridge.journal.marks import mark_text

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    is_value INTEGER NOT NULL,
    time INTEGER
);
CREATE TABLE IF NOT EXISTS sequences (key TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, acked INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS marks (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kept (
    cursor TEXT NOT NULL, key TEXT NOT NULL, text TEXT NOT NULL, PRIMARY KEY (cursor, key)
);
CREATE TABLE IF NOT EXISTS lost (
    key TEXT NOT NULL, first INTEGER NOT NULL, report TEXT NOT NULL, PRIMARY KEY (key, first)
);
"""


def _text_column(cursor: str) -> str:
    return f'"text_{cursor}"'


@dataclass(slots=True)
class Batch:
    """What one commit writes: taken from memory under the journal's lock, written without."""

    rows: list[tuple] = field(default_factory=list)  # appended rows, oldest first
    keys: set[str] = field(default_factory=set)  # keys whose sequence number moved on
    seqs: list[tuple[str, int]] = field(default_factory=list)  # (key, its last seq)
    marks: dict[str, object] = field(default_factory=dict)
    kept: dict[tuple[str, str], str] = field(default_factory=dict)
    lost: dict[tuple[str, int], Dropped] = field(default_factory=dict)  # drop reports to store
    settled: set[tuple[str, int]] = field(default_factory=set)  # (key, first) reports to delete
    cursors: list[tuple[int, str]] = field(default_factory=list)  # (acked, name)
    counters: list[tuple[str, int]] = field(default_factory=list)
    delete_upto: int | None = None  # rows every cursor acknowledged or dropped: delete
    last_rowid: int = 0  # the newest row appended when the batch was taken


IDLE = Batch()  # no commit in progress


@dataclass(slots=True)
class Stored:
    """What the file held when it was opened."""

    seqs: dict[str, int]
    cursors: dict[str, int]
    counters: dict[str, int]
    lost: dict[tuple[str, int], Dropped]
    last_rowid: int
    oldest: int | None  # the oldest row kept, None if none


class JournalFile:
    """One journal file, locked to this process for as long as it is open."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lockfile = self._take_file_lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._check_format()
            self._db.executescript(_SCHEMA)
            self.stored = self._load()
            self._reader = sqlite3.connect(self.path, check_same_thread=False,
                                           isolation_level=None)
        except sqlite3.DatabaseError as exc:
            self._lockfile.close()
            raise JournalError(
                f"journal {self.path}: not a usable SQLite journal ({exc})"
            ) from None
        except JournalError:
            self._lockfile.close()
            raise
        self._insert_sql = self.insert_sql([])
        self._failing_since: float | None = None

    def close(self) -> None:
        self._db.close()
        self._reader.close()
        self._lockfile.close()

    # -- cursors ------------------------------------------------------------------------------

    def add_cursor(self, cursor: str, acked: int | None) -> None:
        """Give the cursor its column of texts (once); insert it at `acked` unless None."""
        self._add_text_column(cursor)
        if acked is not None:
            self._db.execute("INSERT INTO cursors (name, acked) VALUES (?, ?)", (cursor, acked))

    def remove_cursor(self, cursor: str) -> None:
        db = self._db
        db.execute("DELETE FROM cursors WHERE name = ?", (cursor,))
        db.execute(f"ALTER TABLE entries DROP COLUMN {_text_column(cursor)}")
        db.execute("DELETE FROM kept WHERE cursor = ?", (cursor,))

    def use_encoders(self, cursors: list[str]) -> None:
        """Rows from now on carry a text for each of these cursors, in this order."""
        self._insert_sql = self.insert_sql(cursors)

    @staticmethod
    def insert_sql(cursors: list[str]) -> str:
        columns = "".join(f", {_text_column(cursor)}" for cursor in cursors)
        return (f"INSERT INTO entries (rowid, seq, key, is_value, time{columns})"
                f" VALUES (?, ?, ?, ?, ?{', ?' * len(cursors)})")

    # -- reading (committed rows only) --------------------------------------------------------

    def read(self, cursor: str, after: int, upto: int, limit: int) -> list[JournalEntry]:
        column = _text_column(cursor)
        make = JournalEntry._make
        return [make(row) for row in self._reader.execute(
            f"SELECT rowid, seq, key, is_value, {column} FROM entries"
            f" WHERE rowid > ? AND rowid <= ? AND {column} IS NOT NULL ORDER BY rowid LIMIT ?",
            (after, upto, limit))]

    def read_texts(self, cursor: str, after: int, upto: int, limit: int) -> list[tuple[int, str]]:
        column = _text_column(cursor)
        return self._reader.execute(
            f"SELECT rowid, {column} FROM entries"
            f" WHERE rowid > ? AND rowid <= ? AND {column} IS NOT NULL ORDER BY rowid LIMIT ?",
            (after, upto, limit)).fetchall()

    def keys_and_times(self, first: int, upto: int) -> list[tuple]:
        """(key, seq, source time) of the rows `first`..`upto`."""
        return [(key, seq, from_micros(stamp)) for key, seq, stamp in self._reader.execute(
            "SELECT key, seq, time FROM entries WHERE rowid >= ? AND rowid <= ? ORDER BY rowid",
            (first, upto))]

    def marks(self) -> dict[str, str]:
        return dict(self._reader.execute("SELECT key, value FROM marks").fetchall())

    def kept(self, cursor: str) -> dict[str, str]:
        return dict(self._reader.execute("SELECT key, text FROM kept WHERE cursor = ?",
                                         (cursor,)).fetchall())

    # -- writing ------------------------------------------------------------------------------

    def write(self, batch: Batch) -> bool:
        """Write the batch in one transaction; False if it could not be (nothing of it is
        written then). A file that cannot be written (a full disk) is one loud error per
        episode, and one line when writing works again."""
        db = self._db
        try:
            db.execute("BEGIN")
            if batch.rows:
                db.executemany(self._insert_sql, [(*r[:4], micros(r[-1]), *r[4:-1])
                                                  for r in batch.rows])
            self._write_state(batch)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            if self._failing_since is None:
                self._failing_since = time.monotonic()
                log.error("journal %s: cannot write (%s): new data waits in memory and is not "
                          "delivered until the file can be written again (free space on its "
                          "disk)", self.path, exc)
            return False
        if self._failing_since is not None:
            log.info("journal %s: writing works again after %.1f s; %d held items written",
                     self.path, time.monotonic() - self._failing_since, len(batch.rows))
            self._failing_since = None
        return True

    def _write_state(self, batch: Batch) -> None:
        db = self._db
        db.executemany(
            "INSERT INTO sequences (key, seq) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET seq = excluded.seq", batch.seqs)
        db.executemany(
            "INSERT INTO marks (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [(key, mark_text(mark)) for key, mark in batch.marks.items()])
        db.executemany(
            "INSERT INTO kept (cursor, key, text) VALUES (?, ?, ?)"
            " ON CONFLICT (cursor, key) DO UPDATE SET text = excluded.text",
            [(cursor, key, text) for (cursor, key), text in batch.kept.items()])
        db.executemany(
            "INSERT INTO lost (key, first, report) VALUES (?, ?, ?)"
            " ON CONFLICT (key, first) DO UPDATE SET report = excluded.report",
            [(key, first, report.to_text()) for (key, first), report in batch.lost.items()])
        db.executemany("DELETE FROM lost WHERE key = ? AND first = ?", batch.settled)
        db.executemany("UPDATE cursors SET acked = ? WHERE name = ?", batch.cursors)
        db.executemany(
            "INSERT INTO counters (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value", batch.counters)
        if batch.delete_upto is not None:
            db.execute("DELETE FROM entries WHERE rowid <= ?", (batch.delete_upto,))

    # -- opening ------------------------------------------------------------------------------

    def _take_file_lock(self):
        """One process per journal: two bridges appending would reuse sequence numbers."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock_path, "a")  # noqa: SIM115 (held open for the journal's lifetime)
        except OSError as exc:
            raise JournalError(f"journal {self.path}: cannot open ({exc.strerror})") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise JournalError(
                f"journal {self.path}: in use by another bridge process"
            ) from None
        return handle

    def _check_format(self) -> None:
        """Refuse a journal whose rows are in an older format rather than misread them."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(entries)")}
        if columns and "is_value" not in columns:
            raise JournalError(
                f"journal {self.path}: written by an older bridge version (rows with another"
                " layout); let that version deliver it, or move the file away to start afresh"
            )
        if columns and "time" not in columns:  # rows journaled before times were kept
            self._db.execute("ALTER TABLE entries ADD COLUMN time INTEGER")

    def _add_text_column(self, cursor: str) -> None:
        """Give the cursor its column of texts in `entries`, once; a journal of the version
        that kept them in a table per cursor moves them over."""
        db = self._db
        columns = {row[1] for row in db.execute("PRAGMA table_info(entries)")}
        if f"text_{cursor}" in columns:
            return
        db.execute(f"ALTER TABLE entries ADD COLUMN {_text_column(cursor)} TEXT")
        old = f'"texts_{cursor}"'
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                      (f"texts_{cursor}",)).fetchone():
            db.execute("BEGIN")
            db.execute(f"UPDATE entries SET {_text_column(cursor)} ="
                       f" (SELECT text FROM {old} WHERE {old}.rowid = entries.rowid)")
            db.execute(f"DROP TABLE {old}")
            db.execute("COMMIT")

    def _load(self) -> Stored:
        db = self._db
        cursors = dict(db.execute("SELECT name, acked FROM cursors"))
        for cursor in cursors:
            self._add_text_column(cursor)
        last = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'entries'").fetchone()
        return Stored(
            seqs=dict(db.execute("SELECT key, seq FROM sequences")),
            cursors=cursors,
            counters=dict(db.execute("SELECT name, value FROM counters")),
            lost={(key, first): Dropped.from_text(key, text)
                  for key, first, text in db.execute("SELECT key, first, report FROM lost")},
            last_rowid=last[0] if last else 0,
            oldest=db.execute("SELECT min(rowid) FROM entries").fetchone()[0],
        )
