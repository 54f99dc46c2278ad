"""What was handed on last, per series, so that history and live values join without repeats.

After any gap (an OPC UA server restart, a bridge restart after a crash) the source reads the
missing interval from history (`backfill.py`). `LastSeen` records, per series key, the last
source timestamp and value handed on: history is read from there, and the same change seen
again (a new subscription's initial value, a history entry already delivered) is skipped.
It is saved to the state directory only after the journal committed what it covers, so after a
SIGKILL it never claims more than was kept.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)


class LastSeen:
    """The last delivered source timestamp and value per series key, persisted as JSON.

    The same timestamp with the same value is the same change seen again (a new
    subscription's initial value, a history entry already delivered); anything else is new,
    even a value with an older timestamp (servers may stamp a placeholder with the wall clock
    and later values with a machine's or a simulation's clock). Several changes at one instant
    with different values are all new.
    """

    def __init__(self, path: Path | None):
        self.path = path
        self.times: dict[str, datetime] = {}
        self.values: dict[str, object] = {}
        if path is not None and path.exists():
            try:
                raw = json.loads(path.read_text())
                for key, (stamp, value) in raw.items():
                    self.times[key] = datetime.fromisoformat(stamp)
                    self.values[key] = value
            except (ValueError, TypeError, OSError, AttributeError) as exc:
                self.times.clear()
                self.values.clear()
                log.warning("ignoring unreadable source state %s: %s", path, exc)

    def is_new(self, key: str, source_time: datetime | None, value: object) -> bool:
        """True (and remembered as the last) unless it is the last delivered change again."""
        if source_time is None:
            return True
        if self.times.get(key) == source_time and self.values[key] == value:
            return False
        self.times[key] = source_time
        self.values[key] = value
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

    def snapshot(self) -> dict[str, tuple[datetime, object]]:
        return {key: (stamp, self.values[key]) for key, stamp in self.times.items()}

    def save(self, snapshot: dict[str, tuple[datetime, object]]) -> None:
        """Write atomically (temp file + rename): a crash leaves the old or the new state."""
        if self.path is None:
            return
        tmp = self.path.with_suffix(".tmp")
        text = json.dumps({k: (t.isoformat(), v) for k, (t, v) in snapshot.items()}, default=str)
        tmp.write_text(text)
        os.replace(tmp, self.path)
