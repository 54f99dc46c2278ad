"""What was handed on last, per series, so that history and live values join without repeats.

After any gap (an OPC UA server restart, a bridge restart after a crash) the source reads the
missing interval from history (`backfill.py`). `LastSeen` records, per series key, the last
source timestamp and value handed on: history is read from there, and the same change seen
again (a new subscription's initial value, a history entry already delivered) is skipped.

It must agree with what the journal kept, even after a SIGKILL: ahead of it, changes would be
lost; behind it, changes already delivered would be journaled again with new sequence numbers.
So the bridge stores it in the journal, in the same transaction as the items it covers: each
`emit` appends the items together with `changes()`, and a restart starts from
`LastSeen(journal.marks())`.

>>> from datetime import UTC, datetime
>>> seen = LastSeen()
>>> seen.is_new("press/Parts", datetime(2026, 6, 1, tzinfo=UTC), 7)
True
>>> again = LastSeen(seen.changes())
>>> again.is_new("press/Parts", datetime(2026, 6, 1, tzinfo=UTC), 7), seen.changes()
(False, {})
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime

log = logging.getLogger(__name__)


class LastSeen:
    """The last delivered source timestamp and value per series key.

    The same timestamp with the same value is the same change seen again (a new
    subscription's initial value, a history entry already delivered); anything else is new,
    even a value with an older timestamp (servers may stamp a placeholder with the wall clock
    and later values with a machine's or a simulation's clock). Several changes at one instant
    with different values are all new.
    """

    def __init__(self, saved: Mapping[str, object] | None = None) -> None:
        """Start from `saved`: what `changes()` gave before, as it comes back from JSON (e.g.
        `Journal.marks()`), each a pair of source timestamp and value."""
        self.times: dict[str, datetime] = {}
        self.values: dict[str, object] = {}
        self._changed: set[str] = set()
        for key, pair in (saved or {}).items():
            try:
                stamp, value = pair  # type: ignore[misc]
                self.times[key] = (stamp if isinstance(stamp, datetime)
                                   else datetime.fromisoformat(stamp))
                self.values[key] = value
            except (ValueError, TypeError) as exc:
                log.warning("ignoring the unreadable last value of %s: %s", key, exc)

    def is_new(self, key: str, source_time: datetime | None, value: object) -> bool:
        """True (and remembered as the last) unless it is the last delivered change again."""
        if source_time is None:
            return True
        if self.times.get(key) == source_time and self.values[key] == value:
            return False
        self.times[key] = source_time
        self.values[key] = value
        self._changed.add(key)
        return True

    def unseen(self, key: str, history: list[tuple[datetime | None, object]]) -> int:
        """How many leading entries of `history` (oldest first, read from the last timestamp
        on) were handed on already: those before the last timestamp, and those at it up to the
        last value delivered."""
        last = self.times.get(key)
        if last is None:
            return 0
        skip = 0
        for index, (stamp, value) in enumerate(history):
            if stamp is None or stamp > last:
                break
            if stamp < last or value == self.values[key]:
                skip = index + 1
        return skip

    def changes(self) -> dict[str, tuple[datetime, object]]:
        """What changed since the last call: to store with the items it covers."""
        out = {key: (self.times[key], self.values[key]) for key in self._changed}
        self._changed.clear()
        return out
