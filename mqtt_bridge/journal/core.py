"""The journal: numbers, encodes and holds items until every sink acknowledged them.

The source appends samples; each sink reads them through its own named cursor and acknowledges
what its peer confirmed. A row is deleted once every registered cursor has acknowledged it, so
while the broker or the database is down the data waits on disk, and after a restart (even a
SIGKILL) each sink resumes from its first unacknowledged row, in order.

Appending assigns every item the next sequence number of its key (its topic), persisted with the
item, so consumers can prove that nothing was lost across restarts. Writes are committed in
batches (every `commit_interval` seconds or `commit_items` items, whichever comes first): a
SIGKILL loses at most the last uncommitted batch, and sinks only ever see committed rows, so a
sequence number that reached a peer is never reused.

Every item is encoded once, at append, into what each sink sends (`register(cursor, encode)`):
the journal knows no wire format, and the sinks send their finished text as it is. A cursor
registered for the first time starts after the newest row (older rows were encoded without its
encoder), and rows appended while a registered cursor's sink is not configured have no text
for it: that sink never sees them. Beyond `max_items` rows the oldest are dropped and reported
(`losses.py`); the file is `store.py`, the newest rows in memory `recent.py`.

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

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from mqtt_bridge.drop_report import Dropped, from_micros, micros
from mqtt_bridge.journal.commit_thread import CommitThread
from mqtt_bridge.journal.cursors import Cursors, check_name
from mqtt_bridge.journal.interface import Encoder, Item, JournalEntry, JournalError
from mqtt_bridge.journal.losses import Losses
from mqtt_bridge.journal.marks import mark_text
from mqtt_bridge.journal.pending import Pending
from mqtt_bridge.journal.store import IDLE, Batch, JournalFile
from mqtt_bridge.sample import Sample

log = logging.getLogger(__name__)


def _keys_and_times(file: JournalFile, committed: int, unwritten: Iterable[list[tuple]],
                    first: int, upto: int) -> list[tuple[str, int, datetime | None]]:
    """(key, seq, source time) of the rows `first`..`upto`: those committed are in the file,
    the newer ones in memory (being written, or not yet), each a run of row ids."""
    found = file.keys_and_times(first, min(upto, committed)) if first <= committed else []
    for rows in unwritten:
        if rows and rows[0][0] <= upto:
            start = max(first - rows[0][0], 0)
            found += [(r[2], r[1], from_micros(micros(r[-1])))
                      for r in rows[start:upto - rows[0][0] + 1]]
    return found


class Journal:
    """A bounded, durable, multi-cursor queue of samples in one SQLite file (WAL mode).

    Thread-safe: the source may append from one thread while sinks read and acknowledge from
    another. `max_items` bounds the rows kept; beyond it the oldest rows are dropped and counted.
    """

    def __init__(self, path: str | os.PathLike[str], max_items: int = 1_000_000, *,
                 commit_interval: float = 0.05, commit_items: int = 2000) -> None:
        if max_items < 1:
            raise JournalError(f"journal {path}: max_items must be >= 1, got {max_items}")
        self.max_items = max_items
        self._commit_items = commit_items
        # `_lock` guards the state in memory and is held only briefly, so appending (on the
        # event loop) never waits for the file; `_write_lock` makes one writer at a time, and
        # the writer holds it, not `_lock`, while SQLite writes a batch. Take `_write_lock`
        # first where both are needed.
        self._lock = threading.RLock()
        self._write_lock = threading.RLock()
        self._file = JournalFile(path)
        self.path = self._file.path
        stored = self._file.stored
        self._seqs = stored.seqs
        self._losses = Losses(stored.lost, stored.counters.get("dropped", 0))
        self._appended = stored.counters.get("appended", 0)
        self._last_rowid = self._committed_rowid = stored.last_rowid
        # The rows kept are one run of row ids: from _first_kept to _last_rowid.
        self._first_kept = self._last_rowid + 1 if stored.oldest is None else stored.oldest
        self._deleted_upto = self._first_kept - 1
        self._pending = Pending()
        self._writing = IDLE  # what the commit in progress writes, if one is
        self._cursors = Cursors(self._file, stored.cursors, self._last_rowid)
        self._closed = False
        self._committer = CommitThread(self.commit, commit_interval)

    # -- the source's side --------------------------------------------------------------------

    def append(self, items: Iterable[Item], marks: Mapping[str, object] | None = None,
               settles: Iterable[Dropped] = ()) -> None:
        """Store items, each with the next sequence number of its key, encoded by every
        registered sink's encoder; and `marks` (the source's record of what it handed on,
        see `marks()`), committed in the same transaction, which also forgets the drop reports
        the items settle (`settles`, from `take_lost()`). Never blocks on a peer."""
        with self._lock:
            self._check_open()
            pending = self._pending
            if marks:
                pending.marks.update(marks)  # stored as JSON at commit: once per key
                pending.state = True
            if self._losses.settle(settles):
                pending.state = True
            seqs, dirty, encoders = self._seqs, pending.keys, self._cursors.encoders
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
            self._cursors.recent.remember(new)
            pending.rows.extend(new)  # written to the file at the next commit
            pending.count += len(new)
            pending.state = True
            self._last_rowid += len(new)
            self._appended += len(new)
            count = self._last_rowid - self._first_kept + 1
            if count > self.max_items:
                self._drop_oldest(count - self.max_items)
            elif self._losses.dropping:
                self._end_drops()
            if pending.count >= self._commit_items:
                self._committer.wake()  # the commit thread writes them now, not this caller
        self._tell_lost()

    def on_lost(self, listener: Callable[[], None]) -> None:
        """Call `listener()` (from whichever thread appends or commits) whenever drop reports
        are ready for `take_lost()`: a drop episode ended, or reports a previous run left
        unsettled (then at once). Whoever recovers drops is told, it need not poll."""
        with self._lock:
            ready = self._losses.on_lost(listener)
        if ready:
            listener()

    def take_lost(self) -> list[Dropped]:
        """What was dropped at the bound, per key, in the episodes that have ended, once per
        process (again after a restart until settled): whoever appends gives it back or names
        it, in the same sequences, appending that with `settles=` the report."""
        with self._lock:
            if self._losses.dropping and self.room() > 0:
                self._end_drops()  # room again, though nothing was appended since
            return self._losses.take()

    def marks(self) -> dict[str, object]:
        """The marks appended so far, by key, as JSON gives them back (datetimes as text): a
        source's record of what it handed on, kept atomically with the rows."""
        with self._lock:
            self._check_open()
            fresh = {key: mark_text(mark)
                     for key, mark in {**self._writing.marks, **self._pending.marks}.items()}
            return {key: json.loads(text)
                    for key, text in {**self._file.marks(), **fresh}.items()}

    def room(self) -> int:
        """Rows the journal takes before it drops the oldest (`max_items` less those kept)."""
        with self._lock:
            return self.max_items - (self._last_rowid - self._first_kept + 1)

    def stats(self) -> dict[str, int]:
        """Rows buffered now, rows dropped because the journal was full, rows ever appended."""
        with self._lock:
            return {"buffered": self._last_rowid - self._first_kept + 1,
                    "dropped": self._losses.dropped, "appended": self._appended,
                    "unwritten": len(self._writing.rows) + len(self._pending.rows)}

    # -- the sinks' side (interface.SinkJournal) ----------------------------------------------

    def register(self, cursor: str, encode: Encoder) -> None:
        """See `SinkJournal.register`."""
        check_name(cursor)
        with self._write_lock, self._lock:
            self._check_open()
            self._write_pending_or_fail()
            if self._cursors.add(cursor, encode, self._last_rowid):
                self._pending.state = True

    def unregister(self, cursor: str) -> None:
        """Forget a sink that is no longer configured, so it stops holding rows."""
        with self._write_lock, self._lock:
            self._check_open()
            self._write_pending_or_fail()
            if self._cursors.remove(cursor, self._last_rowid):
                self._pending.state = True

    @property
    def cursors(self) -> dict[str, int]:
        """Registered cursors and the last row each acknowledged."""
        with self._lock:
            return dict(self._cursors.acked)

    def acked(self, cursor: str) -> int:
        with self._lock:
            return self._cursors.position(cursor)

    def read(self, cursor: str, limit: int, after: int | None = None) -> list[JournalEntry]:
        with self._lock:
            self._check_open()
            return self._cursors.read(cursor, limit, after, self._first_kept,
                                      self._committed_rowid, self._losses)

    def read_texts(self, cursor: str, limit: int,
                   after: int | None = None) -> list[tuple[int, str]]:
        with self._lock:
            self._check_open()
            return self._cursors.read_texts(cursor, limit, after, self._first_kept,
                                            self._committed_rowid, self._losses)

    def ack(self, cursor: str, upto_rowid: int) -> None:
        with self._lock:
            self._check_open()
            if self._cursors.ack(cursor, upto_rowid, self._losses):
                self._pending.state = True

    def pending(self, cursor: str) -> int:  # O(1): the rows kept are one run of ids
        with self._lock:
            self._check_open()
            return self._last_rowid - max(self._cursors.position(cursor), self._first_kept - 1)

    def waiting(self, cursor: str) -> tuple[int, int]:
        with self._lock:
            self._check_open()
            start = max(self._cursors.position(cursor), self._first_kept - 1)
            readable = max(self._committed_rowid - start, 0)
            return readable, self._last_rowid - start - readable

    def keep(self, cursor: str, texts: Mapping[str, str]) -> None:
        with self._lock:
            self._check_open()
            self._pending.kept.update(((cursor, key), text) for key, text in texts.items())
            self._pending.state = True

    def kept(self, cursor: str) -> dict[str, str]:
        with self._lock:
            self._check_open()
            out = self._file.kept(cursor)
            for kept in (self._writing.kept, self._pending.kept):
                out.update((key, text) for (owner, key), text in kept.items() if owner == cursor)
            return out

    @property
    def last_rowid(self) -> int:
        with self._lock:
            return self._last_rowid

    def on_commit(self, listener: Callable[[], None]) -> Callable[[], None]:
        return self._committer.add_listener(listener)

    def commit(self) -> bool:
        """Make everything appended and acknowledged so far durable and visible to readers;
        say whether that worked. A file that cannot be written (a full disk) is one loud error
        per episode, not an exception: the rows wait in memory, within `max_items`, and the
        next commit tries again (the sinks meanwhile see nothing new). SQLite writes the batch
        without the lock that `append` and the readers take."""
        with self._write_lock:
            with self._lock:
                if self._closed or not self._pending:
                    return True
                if self._cursors.acked:  # rows every sink acknowledged go
                    done = min(self._cursors.acked.values())
                    if done >= self._first_kept:
                        self._first_kept = done + 1
                        self._cursors.recent.forget_upto(done)
                        if self._losses.dropping and self.room() > 0:  # outputs made room
                            self._end_drops()
                batch = self._writing = self._take_batch()
            if not self._file.write(batch):
                with self._lock:
                    self._pending.restore(batch, self._first_kept, self._losses)
                    self._writing = IDLE
                return False
            with self._lock:  # what the batch held is in the file
                if batch.delete_upto is not None:
                    self._deleted_upto = max(self._deleted_upto, batch.delete_upto)
                self._committed_rowid = batch.last_rowid
                self._writing = IDLE
        self._committer.tell()
        self._tell_lost()
        return True

    def close(self) -> None:
        """Commit and close the file; the journal can be reopened by a new `Journal(path)`."""
        if self._closed:
            return
        self._committer.stop()
        with self._write_lock, self._lock:
            if not self.commit():
                log.error("journal %s: closing with %d items that could not be written; they "
                          "are lost (their sequence numbers will be used again)", self.path,
                          len(self._pending.rows))
            self._closed = True
            self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise JournalError(f"journal {self.path}: already closed")

    def _drop_oldest(self, count: int) -> None:
        if not self._losses.dropping:
            log.warning("journal %s is full (max_items %d): dropping the oldest undelivered "
                        "rows; their sequence numbers will be missing downstream", self.path,
                        self.max_items)
        first, upto = self._first_kept, self._first_kept + count - 1
        self._losses.drop_at_bound(first, _keys_and_times(
            self._file, self._committed_rowid, (self._writing.rows, self._pending.rows),
            first, upto), self._cursors.in_flight_upto())
        self._first_kept = upto + 1
        self._pending.drop_upto(upto)
        self._cursors.recent.forget_upto(upto)

    def _end_drops(self) -> None:
        """The journal is below its bound again: the drop episode's reports are ready."""
        log.info("journal %s: below its bound again; %d undelivered rows were dropped "
                 "meanwhile (their sequence numbers are missing downstream)",
                 self.path, self._losses.end_episode())

    def _tell_lost(self) -> None:
        with self._lock:
            listeners = self._losses.listeners_to_tell()
        for listener in listeners:
            listener()

    def _write_pending_or_fail(self) -> None:
        """Before the sinks' columns change: the rows appended so far go to the file."""
        if self._pending.rows and not self.commit():
            raise JournalError(f"journal {self.path}: cannot write to it")

    def _take_batch(self) -> Batch:
        delete_upto = self._first_kept - 1
        return self._pending.take(
            seqs=self._seqs, cursors=self._cursors.acked, losses=self._losses,
            counters={"dropped": self._losses.dropped, "appended": self._appended},
            delete_upto=delete_upto if delete_upto > self._deleted_upto else None,
            last_rowid=self._last_rowid)
