"""The bridge's durable buffer: one SQLite journal between the OPC UA source and the sinks.

The source appends samples; each sink reads them through its own named cursor and acknowledges
what its peer confirmed. A row is deleted once every registered cursor has acknowledged it, so
while the broker or the database is down the data waits on disk, and after a restart (even a
SIGKILL) each sink resumes from its first unacknowledged row, in order.

Appending assigns every item the next sequence number of its key (its topic), persisted with the
item, so consumers can prove that nothing was lost across restarts. Writes are committed in
batches (every `commit_interval` seconds or `commit_items` items, whichever comes first): a
SIGKILL loses at most the last uncommitted batch, and sinks only ever see committed rows, so a
sequence number that reached a peer is never reused.

Every item is encoded once, at append, into what the sinks send: its MQTT topic (without the
sink's prefix), retain flag and JSON payload (`payload.py`), and its line of line protocol
(`line_protocol.py`). The sinks read those columns and send them as they are: no per-sink
decoding or re-encoding, no timestamp parsing on the delivery path. The file holds only text
(JSON and line protocol), never pickle: it is safe to open and inspect with `sqlite3`.

The newest rows (up to `RECENT_ROWS`) are also kept in memory, as appended: a sink that keeps
up reads them from there, and only a sink that fell behind (a peer outage, a restart) reads the
file. Reading back what was just written cost the bridge about a tenth of its time under load.

>>> import tempfile, pathlib
>>> from mqtt_bridge.sample import MachinePath, Sample
>>> press = MachinePath("acme", "plant1", "forming", "line1", "press1", "PressBrakeType")
>>> sample = Sample(press, "counters", "Parts", 1, None, None, "Good")
>>> with Journal(pathlib.Path(tempfile.mkdtemp()) / "bridge.journal") as journal:
...     journal.register("mqtt")
...     journal.append([sample, sample])
...     journal.commit()
...     [(entry.seq, entry.topic.rsplit("/")[-1]) for entry in journal.read("mqtt", limit=10)]
[(1, 'Parts'), (2, 'Parts')]
"""

from __future__ import annotations

import fcntl
import functools
import operator
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

from mqtt_bridge.outputs.mqtt import payload
from mqtt_bridge.outputs.timeseries.line_protocol import line
from mqtt_bridge.sample import EventSample, Sample

Item = Sample | EventSample

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    rowid INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    seq INTEGER NOT NULL,
    retained INTEGER NOT NULL,
    payload TEXT NOT NULL,
    line TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sequences (key TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, acked INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_COLUMNS = "rowid, seq, topic, retained, payload, line"
_COLUMN_NAMES = _COLUMNS.replace(" ", "").split(",")
RECENT_ROWS = 20_000  # newest rows also held in memory for the sinks (~10 MB)


class JournalError(RuntimeError):
    """The journal file cannot be used; the message names the file and the reason."""


@functools.lru_cache(maxsize=64)
def _picker(columns: str) -> Callable[[tuple], tuple] | None:
    """What takes the named columns out of a row held in memory (None: the whole row)."""
    names = columns.replace(" ", "").split(",")
    if not set(names) <= set(_COLUMN_NAMES):
        raise ValueError(f"journal columns {columns!r}: expected some of {_COLUMNS}")
    if names == _COLUMN_NAMES:
        return None
    getter = operator.itemgetter(*(_COLUMN_NAMES.index(name) for name in names))
    return getter if len(names) > 1 else lambda entry: (getter(entry),)


class JournalEntry(NamedTuple):
    """One journaled item, encoded: its position (`rowid`, for acks), its per-key sequence
    number, and what the sinks send (MQTT topic without prefix, retain flag, JSON payload; its
    line of line protocol)."""

    rowid: int
    seq: int
    topic: str
    retained: bool
    payload: str
    line: str


def encode_item(item: Item, seq: int, key: str | None = None) -> tuple[str, int, int, str, str]:
    """The columns (topic, seq, retained, payload, line) of an item with its sequence number."""
    return (
        payload.topic_of_key(item.key if key is None else key), seq, type(item) is Sample,
        payload.encode_text(item, seq), line(item, seq),
    )


class Journal:
    """A bounded, durable, multi-cursor queue of samples in one SQLite file (WAL mode).

    Thread-safe: the source may append from one thread while sinks read and acknowledge from
    another. `max_items` bounds the rows kept; beyond it the oldest rows are dropped and counted.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        max_items: int = 1_000_000,
        *,
        commit_interval: float = 0.05,
        commit_items: int = 2000,
    ) -> None:
        if max_items < 1:
            raise JournalError(f"journal {path}: max_items must be >= 1, got {max_items}")
        self.path = Path(path)
        self.max_items = max_items
        self._commit_items = commit_items
        self._lock = threading.RLock()
        self._listeners: list[Callable[[], None]] = []
        self._lockfile = self._take_file_lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL keeps committed rows across a process crash (not across a power loss)
            # without an fsync per commit.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._check_format()
            self._db.executescript(_SCHEMA)
            self._load()
        except sqlite3.DatabaseError as exc:
            self._lockfile.close()
            raise JournalError(
                f"journal {self.path}: not a usable SQLite journal ({exc})"
            ) from None
        except JournalError:
            self._lockfile.close()
            raise
        self._in_transaction = False
        self._uncommitted = 0
        self._dirty_keys: set[str] = set()
        self._dirty_state = False
        self._closed = False
        self._stop = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_periodically, args=(commit_interval,), name="journal-commit",
            daemon=True,
        )
        self._flusher.start()

    # -- public API ---------------------------------------------------------------------------

    def append(self, items: Iterable[Item]) -> None:
        """Store items, each with the next sequence number of its key, encoded for the sinks.
        Never blocks on a peer."""
        with self._lock:
            self._check_open()
            seqs, dirty = self._seqs, self._dirty_keys
            rows = []
            for item in items:
                key = item.key
                seq = seqs.get(key, 0) + 1
                seqs[key] = seq
                dirty.add(key)
                rows.append(encode_item(item, seq, key))
            if not rows:
                return
            self._begin()
            self._db.executemany(
                "INSERT INTO entries (topic, seq, retained, payload, line) VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            last_rowid = self._db.execute("SELECT last_insert_rowid()").fetchone()[0]
            self._remember(rows, last_rowid)
            self._last_rowid = last_rowid
            self._count += len(rows)
            self._appended += len(rows)
            self._uncommitted += len(rows)
            self._dirty_state = True
            if self._count > self.max_items:
                self._drop_oldest(self._count - self.max_items)
            commit_now = self._uncommitted >= self._commit_items
        if commit_now:
            self.commit()

    def register(self, cursor: str) -> None:
        """Make `cursor` hold rows until it acknowledges them; a new cursor starts at the oldest
        row still in the journal. Registrations persist across restarts."""
        with self._lock:
            self._check_open()
            if cursor not in self._cursors:
                self._begin()
                self._cursors[cursor] = 0
                self._db.execute("INSERT INTO cursors (name, acked) VALUES (?, 0)", (cursor,))
                self._dirty_state = True

    def unregister(self, cursor: str) -> None:
        """Forget a sink that is no longer configured, so it stops holding rows."""
        with self._lock:
            self._check_open()
            if self._cursors.pop(cursor, None) is not None:
                self._begin()
                self._db.execute("DELETE FROM cursors WHERE name = ?", (cursor,))
                self._dirty_state = True

    @property
    def cursors(self) -> dict[str, int]:
        """Registered cursors and the last row each acknowledged."""
        with self._lock:
            return dict(self._cursors)

    def acked(self, cursor: str) -> int:
        """The last row `cursor` acknowledged."""
        with self._lock:
            return self._cursor(cursor)

    def read(self, cursor: str, limit: int, after: int | None = None) -> list[JournalEntry]:
        """Up to `limit` committed entries after the cursor's acknowledged row (or after the row
        `after`, for a sink that has entries in flight), oldest first."""
        make = JournalEntry._make
        return [make(row) for row in self.read_columns(cursor, _COLUMNS, limit, after)]

    def read_columns(
        self, cursor: str, columns: str, limit: int, after: int | None = None
    ) -> list[tuple]:
        """As `read`, but only the named columns (e.g. "rowid, line") as plain tuples: what a
        sink's hot path uses, since fetching the text it does not send costs more than the
        rest of the read."""
        pick = _picker(columns)
        with self._lock:
            self._check_open()
            start = self._cursor(cursor) if after is None else after
            first = start + 1 - self._recent_first  # index of the first row wanted in memory
            if first >= 0:
                upto = min(first + limit, self._committed_rowid + 1 - self._recent_first)
                rows = self._recent[first:upto]
                return rows if pick is None else [pick(row) for row in rows]
            return self._db.execute(
                f"SELECT {columns} FROM entries WHERE rowid > ? AND rowid <= ?"
                " ORDER BY rowid LIMIT ?",
                (start, self._committed_rowid, limit),
            ).fetchall()

    def ack(self, cursor: str, upto_rowid: int) -> None:
        """Record that the cursor's peer confirmed every row up to and including `upto_rowid`."""
        with self._lock:
            self._check_open()
            if upto_rowid > self._cursor(cursor):
                self._cursors[cursor] = upto_rowid
                self._dirty_state = True

    def pending(self, cursor: str) -> int:
        """Rows the cursor has not acknowledged yet (O(1): rows are only ever removed from the
        old end, so the rows kept are one run of row ids ending at `last_rowid`)."""
        with self._lock:
            self._check_open()
            first_kept = self._last_rowid - self._count + 1
            return self._last_rowid - max(self._cursor(cursor), first_kept - 1)

    @property
    def last_rowid(self) -> int:
        """The newest row appended (committed or not)."""
        with self._lock:
            return self._last_rowid

    def stats(self) -> dict[str, int]:
        """Rows buffered now, rows dropped because the journal was full, rows ever appended."""
        with self._lock:
            return {"buffered": self._count, "dropped": self._dropped, "appended": self._appended}

    def on_commit(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener()` (from whichever thread commits) after each commit; returns a function
        that removes it. Sinks use it to wake up instead of polling."""
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def commit(self) -> None:
        """Make everything appended and acknowledged so far durable and visible to readers."""
        with self._lock:
            if self._closed or not (self._in_transaction or self._dirty_state):
                return
            self._begin()
            self._write_state()
            self._db.execute("COMMIT")
            self._in_transaction = False
            self._uncommitted = 0
            self._committed_rowid = self._last_rowid
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def close(self) -> None:
        """Commit and close the file; the journal can be reopened by a new `Journal(path)`."""
        if self._closed:
            return
        self._stop.set()
        self._flusher.join()
        with self._lock:
            self.commit()
            self._closed = True
            self._db.close()
            self._lockfile.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------

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
        if columns and "payload" not in columns:
            raise JournalError(
                f"journal {self.path}: written by an older bridge version (rows without encoded"
                " payloads); let that version deliver it, or move the file away to start afresh"
            )

    def _load(self) -> None:
        db = self._db
        self._seqs = dict(db.execute("SELECT key, seq FROM sequences"))
        self._cursors = dict(db.execute("SELECT name, acked FROM cursors"))
        counters = dict(db.execute("SELECT name, value FROM counters"))
        self._dropped = counters.get("dropped", 0)
        self._appended = counters.get("appended", 0)
        self._count = db.execute("SELECT count(*) FROM entries").fetchone()[0]
        last = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'entries'").fetchone()
        self._last_rowid = last[0] if last else 0
        self._committed_rowid = self._last_rowid
        self._deleted_upto = 0
        # The newest rows as appended, contiguous: self._recent[i] has rowid _recent_first + i.
        # Plain tuples, not JournalEntry: the garbage collector stops tracking tuples of strings
        # and numbers, but not tuple subclasses, and thousands of those arriving each second
        # made it run a full collection (~100 ms) every half second.
        self._recent: list[tuple[int, int, str, int, str, str]] = []
        self._recent_first = self._last_rowid + 1

    def _remember(self, rows: list[tuple[str, int, int, str, str]], last_rowid: int) -> None:
        """Keep freshly inserted rows (they have consecutive row ids, ending at `last_rowid`)
        in memory, dropping the oldest beyond RECENT_ROWS."""
        recent = self._recent
        rowid = last_rowid - len(rows) + 1
        if rowid != self._recent_first + len(recent):  # not contiguous: start afresh
            recent.clear()
            self._recent_first = rowid
        recent.extend((rowid + i, seq, topic, retained, text, line_)
                      for i, (topic, seq, retained, text, line_) in enumerate(rows))
        self._forget_upto(last_rowid - RECENT_ROWS)

    def _forget_upto(self, rowid: int) -> None:
        """Let go of the rows in memory up to `rowid` (the file still has those not deleted)."""
        drop = rowid + 1 - self._recent_first
        if drop > 0:
            del self._recent[:drop]
            self._recent_first += drop

    def _cursor(self, name: str) -> int:
        try:
            return self._cursors[name]
        except KeyError:
            raise KeyError(f"journal cursor {name!r} is not registered") from None

    def _check_open(self) -> None:
        if self._closed:
            raise JournalError(f"journal {self.path}: already closed")

    def _begin(self) -> None:
        if not self._in_transaction:
            self._db.execute("BEGIN")
            self._in_transaction = True

    def _drop_oldest(self, count: int) -> None:
        deleted = self._db.execute(
            "DELETE FROM entries WHERE rowid IN (SELECT rowid FROM entries ORDER BY rowid LIMIT ?)",
            (count,),
        ).rowcount
        self._count -= deleted
        self._dropped += deleted
        self._forget_upto(self._last_rowid - self._count)

    def _write_state(self) -> None:
        db = self._db
        if self._dirty_keys:
            db.executemany(
                "INSERT INTO sequences (key, seq) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET seq = excluded.seq",
                [(key, self._seqs[key]) for key in self._dirty_keys],
            )
            self._dirty_keys.clear()
        if self._dirty_state:
            db.executemany(
                "UPDATE cursors SET acked = ? WHERE name = ?",
                [(acked, name) for name, acked in self._cursors.items()],
            )
            db.executemany(
                "INSERT INTO counters (name, value) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                [("dropped", self._dropped), ("appended", self._appended)],
            )
            if self._cursors:
                done = min(self._cursors.values())
                if done > self._deleted_upto:
                    self._count -= db.execute(
                        "DELETE FROM entries WHERE rowid <= ?", (done,)
                    ).rowcount
                    self._deleted_upto = done
                    self._forget_upto(done)
            self._dirty_state = False

    def _flush_periodically(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.commit()
            except sqlite3.Error:
                # A full disk or similar: keep the rows in the open transaction and try again;
                # readers keep seeing only what was committed.
                continue
