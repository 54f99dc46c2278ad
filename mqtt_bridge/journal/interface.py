"""What a sink sees of the journal: the names every output (MQTT, time series, Sparkplug B,
UMH, ...) is written against. Nothing here knows SQLite or a wire format.

A sink registers its cursor with its encoder once, before the first append; the journal stores
`encode(item, seq)` for it with every item appended from then on. The sink reads its cursor's
committed entries oldest first, sends their texts as they are, acknowledges what its peer
confirmed, and sleeps until the next commit (`on_commit`) instead of polling.

    journal.register("mqtt", encode)             # once, before the first append
    for rowid, text in journal.read_texts("mqtt", 500):
        send(text)                               # ... and once the peer confirmed:
    journal.ack("mqtt", rowid)                   # rows up to rowid are done for this sink
    remove = journal.on_commit(wake_the_sink)    # called from the commit thread

`mqtt_bridge/outputs/journal_sink.py`'s `JournalSink` does all of this for a sink that
implements `encode` and `_run`: a new output subclasses it rather than using these methods
itself. The README in this folder lists the guarantees behind each method.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple, Protocol

from mqtt_bridge.sample import EventSample, Gap, Sample

Item = Sample | EventSample | Gap
Encoder = Callable[[Item, int], str]  # a sink's text for an item with its sequence number


class JournalError(RuntimeError):
    """The journal file cannot be used; the message names the file and the reason."""


class JournalEntry(NamedTuple):
    """One journaled item as a cursor reads it: its position (`rowid`, for acks), its per-key
    sequence number, its key (`Sample.key`, `EventSample.key`), whether it is a variable's
    value (not an event), and the text the cursor's encoder made of it."""

    rowid: int
    seq: int
    key: str
    is_value: bool
    text: str


class SinkJournal(Protocol):
    """The journal as a sink uses it; `Journal` implements it. Row ids grow by one per item
    appended; a sink acknowledges by row id, in journal order."""

    def register(self, cursor: str, encode: Encoder) -> None:
        """Hold rows for `cursor` until it acknowledges them, and store `encode(item, seq)`
        of every item appended from now on for it. A new cursor starts after the newest row;
        a known one resumes after its last acknowledged row (across restarts). `cursor`:
        1-64 letters, digits or underscores."""

    def read(self, cursor: str, limit: int, after: int | None = None) -> list[JournalEntry]:
        """Up to `limit` committed entries after the cursor's acknowledged row (or after row
        `after`, for a sink with entries in flight), oldest first, with the cursor's text."""

    def read_texts(
        self, cursor: str, limit: int, after: int | None = None
    ) -> list[tuple[int, str]]:
        """As `read`, only (rowid, text): the hot path of a sink whose text says it all."""

    def ack(self, cursor: str, upto_rowid: int) -> None:
        """The cursor's peer confirmed every row up to and including `upto_rowid`."""

    def acked(self, cursor: str) -> int:
        """The last row `cursor` acknowledged."""

    def on_commit(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener()` after each commit (from the commit thread: hand over to your
        loop with `call_soon_threadsafe`); returns the function that removes it."""

    def commit(self) -> bool:
        """Make what was appended and acknowledged so far durable and readable; False if the
        file cannot be written now (the rows wait in memory; retried by the commit thread)."""

    @property
    def last_rowid(self) -> int:
        """The newest row appended, committed or not."""

    def pending(self, cursor: str) -> int:
        """Rows the cursor has not acknowledged yet."""

    def waiting(self, cursor: str) -> tuple[int, int]:
        """The cursor's unacknowledged rows: (readable now, not yet written to the file)."""

    def keep(self, cursor: str, texts: Mapping[str, str]) -> None:
        """Keep a text per key for the sink that outlives the rows (the MQTT sink: the last
        retained payload per topic); committed with the next commit."""

    def kept(self, cursor: str) -> dict[str, str]:
        """What `keep` recorded for the cursor, by key."""
