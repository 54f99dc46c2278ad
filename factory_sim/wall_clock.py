"""Starting a plant at the wall-clock time: `start: now` in a scenario, `serve --start now`.

A live plant whose source timestamps lie in January 2026 is data a time-series store with a
retention period drops, and a dashboard on "the last 6 hours" shows nothing. Started *now*,
the plant's clock is the wall clock (at speed 1). ``now/shift`` starts it at the beginning of
the shift under way (else now), so a store holds the current shift from its start. Offline
runs (`run`, `compare`, `sweep`, the labs) keep their scenario's fixed, reproducible date.

The shift pattern is read in the local time of the machine that serves (TZ), as a plant's
shift plan is.

>>> from datetime import UTC, datetime
>>> shifts, weekdays = [(6 * 3600, 14 * 3600), (14 * 3600, 22 * 3600)], {0, 1, 2, 3, 4}
>>> shift_under_way(datetime(2026, 12, 7, 10, 30, tzinfo=UTC), shifts, weekdays).isoformat()
'2026-12-07T06:00:00+00:00'
>>> shift_under_way(datetime(2026, 12, 7, 23, 0, tzinfo=UTC), shifts, weekdays) is None
True
>>> night = [(22 * 3600, 30 * 3600)]  # 22:00 to 06:00 the next day
>>> shift_under_way(datetime(2026, 12, 8, 2, 0, tzinfo=UTC), night, weekdays).isoformat()
'2026-12-07T22:00:00+00:00'
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

NOW = "now"
NOW_SHIFT = "now/shift"
WORDS = (NOW, NOW_SHIFT)


def wall_clock_now() -> datetime:
    """The current time in the local time zone, to the second."""
    return datetime.now().astimezone().replace(microsecond=0)


def shift_under_way(now: datetime, shifts: Iterable[tuple[float, float]],
                    workdays: set[int]) -> datetime | None:
    """When the shift under way at `now` started, or None outside every shift.

    `shifts` are (start, end) in seconds after midnight of the day the shift starts on (an
    end past 24:00 runs into the next day); `workdays` are weekday numbers, Monday 0.
    """
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    starts = []
    for days_back in (0, 1, 2):  # a shift is at most a day long, starting today or before
        day = midnight - timedelta(days=days_back)
        if day.weekday() not in workdays:
            continue
        for start, end in shifts:
            if day + timedelta(seconds=start) <= now < day + timedelta(seconds=end):
                starts.append(day + timedelta(seconds=start))
    return max(starts, default=None)
