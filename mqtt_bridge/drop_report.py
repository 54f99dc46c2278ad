"""The record the journal and the input share about a drop at the journal's bound.

When the outputs cannot deliver and the journal reaches `journal_max_items`, it drops its
oldest rows; once it has room again it reports, per key, what it dropped (`Dropped`), and the
input gives the values back from the server's history or names them by a gap record
(`mqtt_bridge/inputs/opcua/dropped.py`). The report lives here, not in the journal, so the
input never imports the journal: it only receives reports and returns them with `settles=`.

>>> from datetime import UTC, datetime
>>> t = datetime(2026, 6, 1, tzinfo=UTC)
>>> report = Dropped(5, 7, 3, since=t, until=t, values=3, at_since=3, at_until=3, key="a/b")
>>> Dropped.from_text("a/b", report.to_text()) == report
True
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros(stamp: datetime | None) -> int | None:
    """A time as the journal stores it: exact integer microseconds since 1970 (UTC; a time
    without zone is taken as UTC)."""
    if stamp is None:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return (stamp - _EPOCH) // _MICROSECOND


def from_micros(count: int | None) -> datetime | None:
    """The time `micros` stored, as an aware UTC datetime."""
    return None if count is None else _EPOCH + count * _MICROSECOND


class Dropped(NamedTuple):
    """What the journal dropped of one key (`key`) at its bound: the sequence numbers `first`
    to `last` (`count` rows), of which `values` were variables' values; the oldest and newest
    source time among those (`since`, `until`; None if none, or journaled by an older
    version), and how many of them had exactly that time (`at_since`, `at_until`): values
    delivered before or after may share a boundary's time."""

    first: int
    last: int
    count: int
    since: datetime | None = None
    until: datetime | None = None
    values: int = 0
    at_since: int = 0
    at_until: int = 0
    key: str = ""

    def to_text(self) -> str:
        return json.dumps([*self[:3], micros(self.since), micros(self.until),
                           *self[5:8]])

    @classmethod
    def from_text(cls, key: str, text: str) -> Dropped:
        first, last, count, since, until, values, at_since, at_until = json.loads(text)
        return cls(first, last, count, from_micros(since), from_micros(until), values, at_since,
                   at_until, key)
