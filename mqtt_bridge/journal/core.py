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

Every item is encoded once, at append, into what each sink sends: a sink registers its cursor
together with its encoder (`register(cursor, encode)`; the MQTT output's JSON payload, the time
series output's line of line protocol), and the journal stores each encoder's text in that
cursor's own column of the row, `text_{cursor}`, added when the cursor first registers (one
row insert per item whatever the number of sinks: a table per cursor cost SQLite an insert
and a delete per sink and item). The journal knows no wire format and a further output needs
no schema change by hand: it registers its own cursor and encoder. The sinks read their
finished text and send it as it is: no per-sink decoding or re-encoding, no timestamp parsing
on the delivery path. The file holds only text, never pickle: it is safe to open and inspect
with `sqlite3`. A cursor registered for the first time starts after the newest row (older rows
were encoded without its encoder), and rows appended while a registered cursor's sink is not
configured have no text for it: that sink never sees them.

Beyond `max_items` rows the oldest are dropped; once there is room again, `take_lost()` says
per key which sequence numbers were dropped and the span of their values' source times, so
the source can give them back (from its own history) or name them, in the same sequences.
These reports are durable: each stays in the file, committed with the drop it describes, until
the items that settle it (the values given back, or a gap record) are appended with
`settles=`, in the same transaction; after a crash or a stop before that, `take_lost()` hands
the report out again.

The newest rows (up to `RECENT_ROWS`) are also kept in memory, as appended: a sink that keeps
up reads them from there, and only a sink that fell behind (a peer outage, a restart) reads the
file. Reading back what was just written cost the bridge about a tenth of its time under load.

>>> import tempfile, pathlib
>>> from mqtt_bridge.sample import MachinePath, Sample
>>> press = MachinePath("acme", "plant1", "forming", "line1", "press1", "PressBrakeType")
>>> sample = Sample(press, "counters", "Parts", 1, None, None, "Good")
>>> def encode(item, seq):  # a sink's encoder: what it sends for an item with its seq
...     return f"{item.tag}={item.value} #{seq}"
>>> with Journal(pathlib.Path(tempfile.mkdtemp()) / "bridge.journal") as journal:
...     journal.register("mqtt", encode)
...     journal.append([sample, sample])
...     journal.commit()  # what the sinks may read: committed rows
...     [(entry.seq, entry.text) for entry in journal.read("mqtt", limit=10)]
True
[(1, 'Parts=1 #1'), (2, 'Parts=1 #2')]
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring_ascii
from pathlib import Path

from mqtt_bridge.drop_report import Dropped
from mqtt_bridge.journal.interface import Encoder, Item, JournalEntry, JournalError
from mqtt_bridge.sample import Sample

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
_CURSOR_NAME = re.compile(r"[A-Za-z0-9_]{1,64}")
RECENT_ROWS = 20_000  # newest rows also held in memory for the sinks (~10 MB)


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


@dataclass(slots=True)
class _Batch:
    """What one commit writes: taken from memory under the lock, written without it."""

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


_IDLE = _Batch()  # no commit in progress


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else str(value)


_encode_json = json.JSONEncoder(default=_plain).encode  # as json.dumps(default=_plain)
_ISO_TEXTS: dict[datetime, str] = {}  # recent source times' text: they repeat thousands of times


def _mark_text(mark: object) -> str:
    """A mark as JSON (datetimes as ISO text). Marks are written for nearly every update; the
    usual one, a (source time, plain value) pair, is built here without the JSON encoder's
    per-call cost (2.5 µs of the bridge's ~30 µs per update), to the same text."""
    if type(mark) is tuple and len(mark) == 2 and type(mark[0]) is datetime:
        stamp, value = mark
        if stamp.tzinfo is not UTC:  # equal instants in other zones have other texts
            iso = stamp.isoformat()
        elif (iso := _ISO_TEXTS.get(stamp)) is None:
            if len(_ISO_TEXTS) >= 4096:
                _ISO_TEXTS.clear()
            iso = _ISO_TEXTS[stamp] = stamp.isoformat()
        kind = type(value)
        if kind is float and math.isfinite(value):
            text = float.__repr__(value)
        elif kind is int:
            text = int.__repr__(value)
        elif kind is str:
            text = encode_basestring_ascii(value)
        else:
            text = _encode_json(value)
        return f'["{iso}", {text}]'
    return _encode_json(mark)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(stamp: datetime) -> int:
    """A source time as it is stored: exact integer microseconds since 1970 (UTC; a time
    without zone is taken as UTC)."""
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return (stamp - _EPOCH) // _MICROSECOND


def _utc(stamp: datetime | None) -> datetime | None:
    return None if stamp is None else _time(_micros(stamp))


def _time(micros: int | None) -> datetime | None:
    return None if micros is None else _EPOCH + micros * _MICROSECOND


def _text_column(cursor: str) -> str:
    return f'"text_{cursor}"'


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
        # `_lock` guards the state in memory and is held only briefly, so appending (on the
        # event loop) never waits for the file; `_write_lock` makes one writer at a time, and
        # the writer holds it, not `_lock`, while SQLite writes a batch. Take `_write_lock`
        # first where both are needed.
        self._lock = threading.RLock()
        self._write_lock = threading.RLock()
        self._listeners: list[Callable[[], None]] = []
        self._lost_listeners: list[Callable[[], None]] = []
        self._lost_ready = False  # drop reports became ready: tell `_lost_listeners`
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
            # Readers have their own connection: they see committed rows only, and never
            # share a connection with a write in progress.
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
        self._uncommitted = 0
        self._dirty_keys: set[str] = set()
        self._dirty_state = False
        self._closed = False
        self._stop = threading.Event()
        self._wake = threading.Event()  # commit now: `commit_items` are waiting
        self._flusher = threading.Thread(
            target=self._flush_periodically, args=(commit_interval,), name="journal-commit",
            daemon=True,
        )
        self._flusher.start()

    # -- public API ---------------------------------------------------------------------------

    def append(self, items: Iterable[Item], marks: Mapping[str, object] | None = None,
               settles: Iterable[Dropped] = ()) -> None:
        """Store items, each with the next sequence number of its key, encoded by every
        registered sink's encoder; and `marks` (the source's record of what it handed on,
        see `marks()`), committed in the same transaction, which also forgets the drop reports
        the items settle (`settles`, from `take_lost()`). Never blocks on a peer."""
        with self._lock:
            self._check_open()
            if marks:
                self._dirty_marks.update(marks)  # stored as JSON at commit: once per key
                self._dirty_state = True
            for report in settles:
                self._dirty_lost.pop((report.key, report.first), None)
                self._dirty_settled.add((report.key, report.first))
                self._dirty_state = True
            seqs, dirty = self._seqs, self._dirty_keys
            encoders = self._encoder_list
            rowid = self._last_rowid
            new = []
            for item in items:
                key = item.key
                seq = seqs.get(key, 0) + 1
                seqs[key] = seq
                dirty.add(key)
                rowid += 1
                is_sample = type(item) is Sample
                # a late value (older than one delivered before) is not the variable's value now
                new.append((rowid, seq, key, is_sample and not item.late,
                            *[encode(item, seq) for encode in encoders],
                            item.source_time if is_sample else None))
            if not new:
                return
            self._remember(new)
            self._unwritten.extend(new)  # written to the file at the next commit
            self._last_rowid += len(new)
            self._appended += len(new)
            self._uncommitted += len(new)
            self._dirty_state = True
            count = self._last_rowid - self._first_kept + 1
            if count > self.max_items:
                self._drop_oldest(count - self.max_items)
            elif self._dropping is not None:
                self._end_drops()
            if self._uncommitted >= self._commit_items:
                self._wake.set()  # the commit thread writes them now, not this caller
        self._tell_lost()

    def on_lost(self, listener: Callable[[], None]) -> None:
        """Call `listener()` (from whichever thread appends or commits) whenever drop reports
        are ready for `take_lost()`: a drop episode ended, or reports a previous run left
        unsettled (then at once). Whoever recovers drops is told, it need not poll."""
        with self._lock:
            self._lost_listeners.append(listener)
            ready = bool(self._lost_done)
        if ready:
            listener()

    def _tell_lost(self) -> None:
        if self._lost_ready:
            with self._lock:
                ready, self._lost_ready = self._lost_ready, False
                listeners = list(self._lost_listeners)
            for listener in listeners if ready else ():
                listener()

    def take_lost(self) -> list[Dropped]:
        """What was dropped at the bound, per key, in the episodes that have ended (the journal
        is below its bound again), once per process: whoever appends can then give back or
        name what was lost, in the same sequences, appending that with `settles=` the report.
        Reports not settled before a crash or a stop are handed out again after the restart
        (as is an episode that a restart ended)."""
        with self._lock:
            if (self._dropping is not None
                    and self._last_rowid - self._first_kept + 1 < self.max_items):
                self._end_drops()  # room again, though nothing was appended since
            if self._dropping is not None:  # not while dropping: what was given back would be
                return []  # dropped again
            lost, self._lost_done = self._lost_done, {}
            return list(lost.values())

    def marks(self) -> dict[str, object]:
        """The marks appended so far, by key, as JSON gives them back (datetimes as text): a
        source's record of what it handed on, kept atomically with the rows (after a crash,
        both are as of the same commit)."""
        with self._lock:
            self._check_open()
            stored = dict(self._reader.execute("SELECT key, value FROM marks").fetchall())
            fresh = {key: _mark_text(mark)
                     for key, mark in {**self._writing.marks, **self._dirty_marks}.items()}
            return {key: json.loads(text) for key, text in {**stored, **fresh}.items()}

    def keep(self, cursor: str, texts: Mapping[str, str]) -> None:
        """Record, for a sink, a text per key that outlives the rows (the MQTT sink: the last
        retained payload per topic its broker confirmed); committed with the next commit."""
        with self._lock:
            self._check_open()
            self._dirty_kept.update(((cursor, key), text) for key, text in texts.items())
            self._dirty_state = True

    def kept(self, cursor: str) -> dict[str, str]:
        """What `keep` recorded for the sink, by key."""
        with self._lock:
            self._check_open()
            out = dict(self._reader.execute("SELECT key, text FROM kept WHERE cursor = ?",
                                            (cursor,)).fetchall())
            for kept in (self._writing.kept, self._dirty_kept):
                out.update((key, text) for (owner, key), text in kept.items() if owner == cursor)
            return out

    def register(self, cursor: str, encode: Encoder) -> None:
        """Make `cursor` hold rows until it acknowledges them, and store `encode(item, seq)`
        of every item appended from now on for it to read. A cursor that is new starts after
        the newest row; registrations and positions persist across restarts (the encoder,
        being code, is given again at each start). `cursor` is a name of letters, digits and
        underscores."""
        if not _CURSOR_NAME.fullmatch(cursor):
            raise ValueError(f"journal cursor {cursor!r}: expected letters, digits or _")
        with self._write_lock, self._lock:
            self._check_open()
            self._write_unwritten_or_fail()
            self._add_text_column(cursor)
            if cursor not in self._cursors:
                self._cursors[cursor] = self._last_rowid
                self._db.execute("INSERT INTO cursors (name, acked) VALUES (?, ?)",
                                 (cursor, self._last_rowid))
                self._dirty_state = True
            self._encoders[cursor] = encode
            self._index_encoders()

    def unregister(self, cursor: str) -> None:
        """Forget a sink that is no longer configured, so it stops holding rows."""
        with self._write_lock, self._lock:
            self._check_open()
            self._write_unwritten_or_fail()
            if self._cursors.pop(cursor, None) is not None:
                self._db.execute("DELETE FROM cursors WHERE name = ?", (cursor,))
                self._db.execute(f"ALTER TABLE entries DROP COLUMN {_text_column(cursor)}")
                self._db.execute("DELETE FROM kept WHERE cursor = ?", (cursor,))
                self._dirty_state = True
            self._encoders.pop(cursor, None)
            self._index_encoders()

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
        `after`, for a sink that has entries in flight), oldest first, with the cursor's text."""
        make = JournalEntry._make
        with self._lock:
            start, index, upto = self._window(cursor, limit, after)
            if index is not None:
                return [make((r[0], r[1], r[2], r[3], r[index])) for r in self._recent[start:upto]]
            column = _text_column(cursor)
            return [make(row) for row in self._reader.execute(
                f"SELECT rowid, seq, key, is_value, {column} FROM entries"
                f" WHERE rowid > ? AND rowid <= ? AND {column} IS NOT NULL ORDER BY rowid LIMIT ?",
                (start, self._committed_rowid, limit),
            )]

    def read_texts(
        self, cursor: str, limit: int, after: int | None = None
    ) -> list[tuple[int, str]]:
        """As `read`, but only (rowid, text) as plain tuples: what a sink's hot path uses, when
        it needs neither key nor sequence number (they are in its text)."""
        with self._lock:
            start, index, upto = self._window(cursor, limit, after)
            if index is not None:
                return [(r[0], r[index]) for r in self._recent[start:upto]]
            column = _text_column(cursor)
            return self._reader.execute(
                f"SELECT rowid, {column} FROM entries"
                f" WHERE rowid > ? AND rowid <= ? AND {column} IS NOT NULL ORDER BY rowid LIMIT ?",
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
            return self._last_rowid - max(self._cursor(cursor), self._first_kept - 1)

    def room(self) -> int:
        """Rows the journal takes before it drops the oldest (`max_items` less those kept)."""
        with self._lock:
            return self.max_items - (self._last_rowid - self._first_kept + 1)

    def waiting(self, cursor: str) -> tuple[int, int]:
        """The rows the cursor has not acknowledged: (how many are in the file, readable now;
        how many are not written yet: a full disk holds them back from every sink)."""
        with self._lock:
            self._check_open()
            start = max(self._cursor(cursor), self._first_kept - 1)
            readable = max(self._committed_rowid - start, 0)
            return readable, self._last_rowid - start - readable

    @property
    def last_rowid(self) -> int:
        """The newest row appended (committed or not)."""
        with self._lock:
            return self._last_rowid

    def stats(self) -> dict[str, int]:
        """Rows buffered now, rows dropped because the journal was full, rows ever appended."""
        with self._lock:
            return {"buffered": self._last_rowid - self._first_kept + 1, "dropped": self._dropped,
                    "appended": self._appended,
                    "unwritten": len(self._writing.rows) + len(self._unwritten)}

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

    def commit(self) -> bool:
        """Make everything appended and acknowledged so far durable and visible to readers;
        say whether that worked. A file that cannot be written (a full disk) is one loud error
        per episode, not an exception: the rows wait in memory, within `max_items`, and the
        next commit tries again (the sinks meanwhile see nothing new).

        SQLite writes the batch without the lock that `append` and the readers take: the
        source goes on appending while the commit thread writes."""
        with self._write_lock:
            with self._lock:
                if self._closed or not (self._unwritten or self._dirty_state or self._dirty_keys):
                    return True
                if self._cursors:  # rows every sink acknowledged go
                    done = min(self._cursors.values())
                    if done >= self._first_kept:
                        self._first_kept = done + 1
                        self._forget_upto(done)
                        if (self._dropping is not None  # the outputs made room again
                                and self._last_rowid - self._first_kept + 1 < self.max_items):
                            self._end_drops()
                batch = self._writing = self._take_batch()
            try:
                self._db.execute("BEGIN")
                self._write_rows(batch.rows)
                self._write_state(batch)
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                with self._lock:
                    self._restore(batch)
                    self._write_failed(exc)
                return False
            with self._lock:
                self._written(batch)
                listeners = list(self._listeners)
        for listener in listeners:
            listener()
        self._tell_lost()
        return True

    def close(self) -> None:
        """Commit and close the file; the journal can be reopened by a new `Journal(path)`."""
        if self._closed:
            return
        self._stop.set()
        self._wake.set()
        self._flusher.join()
        with self._write_lock, self._lock:
            if not self.commit():
                log.error("journal %s: closing with %d items that could not be written; they "
                          "are lost (their sequence numbers will be used again)", self.path,
                          len(self._unwritten))
            self._closed = True
            self._db.close()
            self._reader.close()
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

    def _load(self) -> None:
        db = self._db
        self._seqs = dict(db.execute("SELECT key, seq FROM sequences"))
        self._cursors = dict(db.execute("SELECT name, acked FROM cursors"))
        for cursor in self._cursors:
            self._add_text_column(cursor)
        counters = dict(db.execute("SELECT name, value FROM counters"))
        self._dirty_marks: dict[str, object] = {}
        self._dirty_kept: dict[tuple[str, str], str] = {}
        self._dropping: int | None = None  # rows dropped before the current episode
        self._lost: dict[str, _Loss] = {}  # what was dropped, per key
        self._lost_touched: set[str] = set()  # keys of `_lost` changed since the last commit
        # reports of episodes that ended, not yet taken: in this process, or unsettled before
        self._lost_done: dict[tuple[str, int], Dropped] = {
            (key, first): Dropped.from_text(key, text)
            for key, first, text in db.execute("SELECT key, first, report FROM lost")}
        self._dirty_lost: dict[tuple[str, int], Dropped] = {}  # reports to store
        self._dirty_settled: set[tuple[str, int]] = set()  # reports to forget
        self._dropped = counters.get("dropped", 0)
        self._appended = counters.get("appended", 0)
        last = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'entries'").fetchone()
        self._last_rowid = last[0] if last else 0
        self._committed_rowid = self._last_rowid
        oldest = db.execute("SELECT min(rowid) FROM entries").fetchone()[0]
        # The rows kept are one run of row ids: from _first_kept to _last_rowid.
        self._first_kept = self._last_rowid + 1 if oldest is None else oldest
        self._deleted_upto = self._first_kept - 1
        self._unwritten: list[tuple] = []  # appended rows not yet in the file, oldest first
        self._writing = _IDLE  # what the commit in progress writes, if one is
        self._failing_since: float | None = None
        self._encoders: dict[str, Encoder] = {}
        # The newest rows as appended, contiguous: self._recent[i] has rowid _recent_first + i,
        # as (rowid, seq, key, is_value, text of each encoder in `_encoder_list` order).
        # Plain tuples, not JournalEntry: the garbage collector stops tracking tuples of strings
        # and numbers, but not tuple subclasses, and thousands of those arriving each second
        # made it run a full collection (~100 ms) every half second.
        self._recent: list[tuple] = []
        self._index_encoders()

    def _index_encoders(self) -> None:
        """Fix the order of the encoders' texts in memory; rows held so far have another."""
        self._encoder_list = list(self._encoders.values())
        columns = "".join(f", {_text_column(cursor)}" for cursor in self._encoders)
        self._insert_sql = (f"INSERT INTO entries (rowid, seq, key, is_value, time{columns})"
                            f" VALUES (?, ?, ?, ?, ?{', ?' * len(self._encoders)})")
        self._text_index = {cursor: 4 + i for i, cursor in enumerate(self._encoders)}
        self._recent = []
        self._recent_first = self._last_rowid + 1

    def _remember(self, rows: list[tuple]) -> None:
        """Keep freshly appended rows (consecutive row ids) in memory, dropping the oldest
        beyond RECENT_ROWS."""
        recent = self._recent
        first = rows[0][0]
        if first != self._recent_first + len(recent):  # not contiguous: start afresh
            recent.clear()
            self._recent_first = first
        recent.extend(rows)
        self._forget_upto(rows[-1][0] - RECENT_ROWS)

    def _window(self, cursor: str, limit: int, after: int | None) -> tuple[int, int | None, int]:
        """Where a read starts: (the row after which to read, the index of the cursor's text
        in memory or None to read the file, where to stop in memory). Call with the lock."""
        self._check_open()
        start = self._cursor(cursor) if after is None else after
        start = max(start, self._first_kept - 1)  # rows dropped at the bound are not read
        index = self._text_index.get(cursor)
        first = start + 1 - self._recent_first  # index of the first row wanted in memory
        if index is None or first < 0:
            return start, None, 0
        return first, index, min(first + limit, self._committed_rowid + 1 - self._recent_first)

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

    def _drop_oldest(self, count: int) -> None:
        if self._dropping is None:
            self._dropping = self._dropped
            log.warning("journal %s is full (max_items %d): dropping the oldest undelivered "
                        "rows; their sequence numbers will be missing downstream", self.path,
                        self.max_items)
        upto = self._first_kept + count - 1
        self._note_lost(self._first_kept, upto)
        self._first_kept = upto + 1
        self._dropped += count
        unwritten = self._unwritten
        if unwritten and unwritten[0][0] <= upto:  # never in the file: just forget them
            del unwritten[:upto - unwritten[0][0] + 1]
        self._forget_upto(upto)

    def _end_drops(self) -> None:
        """The journal is below its bound again: the drop episode's reports are ready."""
        log.info("journal %s: below its bound again; %d undelivered rows were dropped "
                 "meanwhile (their sequence numbers are missing downstream)",
                 self.path, self._dropped - self._dropping)
        self._dropping = None
        self._lost_ready = True  # `on_lost` listeners are told
        self._stage_lost()
        self._lost_done.update(((key, loss.first), loss.report(key))
                               for key, loss in self._lost.items())
        self._lost = {}

    def _note_lost(self, first: int, upto: int) -> None:
        """Remember the keys and sequence numbers of the rows `first`..`upto`, being dropped:
        those committed are in the file, the newer ones in memory (being written, or not yet)."""
        found: list[tuple[str, int, datetime | None]] = []
        if first <= self._committed_rowid:
            found += [(key, seq, _time(stamp)) for key, seq, stamp in self._reader.execute(
                "SELECT key, seq, time FROM entries WHERE rowid >= ? AND rowid <= ?",
                (first, min(upto, self._committed_rowid)),
            ).fetchall()]
        for rows in (self._writing.rows, self._unwritten):  # each a run of row ids
            if rows and rows[0][0] <= upto:
                start = max(first - rows[0][0], 0)
                found += [(r[2], r[1], _utc(r[-1])) for r in rows[start:upto - rows[0][0] + 1]]
        lost = self._lost
        self._lost_touched.update(key for key, _, _ in found)
        for key, seq, stamp in found:
            loss = lost.get(key)
            if loss is None:
                loss = lost[key] = _Loss(seq)
            loss.add(seq, stamp)

    def _stage_lost(self) -> None:
        """The reports of the keys dropped from since the last commit, to store."""
        for key in self._lost_touched:
            loss = self._lost[key]
            self._dirty_lost[(key, loss.first)] = loss.report(key)
        self._lost_touched.clear()

    def _write_rows(self, rows: list[tuple]) -> None:
        """INSERT appended rows (and each sink's text) into the open transaction."""
        if not rows:
            return
        self._db.executemany(
            self._insert_sql,
            [(*r[:4], None if r[-1] is None else _micros(r[-1]), *r[4:-1]) for r in rows])

    def _write_unwritten_or_fail(self) -> None:
        """Before the sinks' tables change: the rows appended so far go to the file."""
        if self._unwritten and not self.commit():
            raise JournalError(f"journal {self.path}: cannot write to it")

    def _take_batch(self) -> _Batch:
        """What is pending, for one commit to write; the state pending starts empty again.
        Call with the lock."""
        self._stage_lost()
        state = self._dirty_state
        batch = _Batch(
            rows=self._unwritten, keys=self._dirty_keys,
            seqs=[(key, self._seqs[key]) for key in self._dirty_keys],
            marks=self._dirty_marks, kept=self._dirty_kept,
            lost=self._dirty_lost, settled=self._dirty_settled,
            cursors=[(acked, name) for name, acked in self._cursors.items()] if state else [],
            counters=[("dropped", self._dropped), ("appended", self._appended)] if state else [],
            delete_upto=(self._first_kept - 1 if self._first_kept - 1 > self._deleted_upto
                         else None),
            last_rowid=self._last_rowid,
        )
        self._unwritten, self._dirty_keys, self._dirty_marks, self._dirty_kept = [], set(), {}, {}
        self._dirty_lost, self._dirty_settled = {}, set()
        self._dirty_state = False
        self._uncommitted = 0
        return batch

    def _write_state(self, batch: _Batch) -> None:
        """UPDATE what the batch changed besides rows, in the open transaction."""
        db = self._db
        db.executemany(
            "INSERT INTO sequences (key, seq) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET seq = excluded.seq", batch.seqs)
        db.executemany(
            "INSERT INTO marks (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [(key, _mark_text(mark)) for key, mark in batch.marks.items()])
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

    def _written(self, batch: _Batch) -> None:
        """After a successful commit: what the batch held is in the file. Call with the lock."""
        if self._failing_since is not None:
            log.info("journal %s: writing works again after %.1f s; %d held items written",
                     self.path, time.monotonic() - self._failing_since, len(batch.rows))
            self._failing_since = None
        if batch.delete_upto is not None:
            self._deleted_upto = max(self._deleted_upto, batch.delete_upto)
        self._committed_rowid = batch.last_rowid
        self._writing = _IDLE

    def _restore(self, batch: _Batch) -> None:
        """After a failed commit: the batch is pending again, before what was appended since,
        except rows dropped at the bound meanwhile. Call with the lock."""
        rows = batch.rows[max(self._first_kept - batch.rows[0][0], 0):] if batch.rows else []
        self._unwritten[:0] = rows
        self._uncommitted += len(rows)
        self._dirty_keys |= batch.keys
        for key, mark in batch.marks.items():  # a newer mark of the key wins
            self._dirty_marks.setdefault(key, mark)
        for key, text in batch.kept.items():
            self._dirty_kept.setdefault(key, text)
        for key, report in batch.lost.items():  # a settle since is applied after it
            self._dirty_lost.setdefault(key, report)
        self._dirty_settled |= batch.settled
        self._dirty_state = True
        self._writing = _IDLE

    def _write_failed(self, exc: sqlite3.Error) -> None:
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            log.error("journal %s: cannot write (%s): new data waits in memory and is not "
                      "delivered until the file can be written again (free space on its disk)",
                      self.path, exc)

    def _flush_periodically(self, interval: float) -> None:
        while not self._stop.is_set():
            self._wake.wait(interval)
            self._wake.clear()
            self.commit()  # a failure is logged and retried at the next interval
