"""The shift calendar: when the plant works, takes breaks, or stands unplanned.

Time is simulated seconds since the scenario start. The calendar cuts it into contiguous
periods of three kinds; ISO 22400 books them as planned operation (WORK), planned downtime
(BREAK) and time outside the plan (OFF).

>>> cal = ShiftCalendar(
...     shifts=[Shift("early", 6 * 3600, 14 * 3600, breaks=[Break(9 * 3600, 900)])],
...     workdays={0, 1, 2, 3, 4}, start_weekday=0, start_offset=0.0)
>>> cal.is_working(7 * 3600), cal.is_working(9 * 3600 + 60), cal.is_working(15 * 3600)
(True, False, False)
>>> cal.add_working_time(13 * 3600, 7200) / 3600  # two working hours from Mon 13:00: Tue 07:00
31.0
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from enum import Enum

DAY = 86400.0


class PeriodKind(Enum):
    WORK = "work"
    BREAK = "break"
    OFF = "off"


@dataclass(frozen=True)
class Break:
    start: float  # seconds after midnight
    duration: float


@dataclass(frozen=True)
class Shift:
    name: str
    start: float  # seconds after midnight
    end: float  # may exceed a day for a night shift
    breaks: list[Break] = field(default_factory=list)


@dataclass(frozen=True)
class Period:
    start: float
    end: float
    kind: PeriodKind


class ShiftCalendar:
    """Contiguous WORK / BREAK / OFF periods from t = 0, generated a week at a time."""

    def __init__(
        self,
        shifts: list[Shift],
        workdays: set[int],
        start_weekday: int,
        start_offset: float,
    ):
        """`start_weekday` is the weekday (0 = Monday) of the scenario start, and
        `start_offset` its seconds after midnight."""
        self.shifts = sorted(shifts, key=lambda s: s.start)
        self.workdays = workdays
        self._start_weekday = start_weekday
        self._origin = -start_offset  # simulated time of the start day's midnight
        self._periods: list[Period] = []
        self._starts: list[float] = []
        self._days_built = 0
        self._extend(until=0.0)

    # -- queries ---------------------------------------------------------------------------

    def period_at(self, t: float) -> Period:
        self._extend(t)
        return self._periods[bisect.bisect_right(self._starts, t) - 1]

    def is_working(self, t: float) -> bool:
        return self.period_at(t).kind is PeriodKind.WORK

    def periods(self):
        """All periods from t = 0 on, without end (the caller stops iterating)."""
        i = 0
        while True:
            if i >= len(self._periods) - 1:
                self._extend(self._periods[-1].end + 7 * DAY)
            yield self._periods[i]
            i += 1

    def next_work_start(self, t: float) -> float:
        """`t` itself in working time, else the start of the next working period."""
        self._extend(t)
        i = bisect.bisect_right(self._starts, t) - 1
        while True:
            if i >= len(self._periods):
                self._extend(self._periods[-1].end + 7 * DAY)
            period = self._periods[i]
            if period.kind is PeriodKind.WORK:
                return max(t, period.start)
            i += 1

    def add_working_time(self, t: float, seconds: float) -> float:
        """The moment when `seconds` of working time have passed after `t`."""
        remaining = seconds
        t = self.next_work_start(t)
        while True:
            period = self.period_at(t)
            available = period.end - t
            if remaining <= available:
                return t + remaining
            remaining -= available
            t = self.next_work_start(period.end)

    def working_time_between(self, start: float, end: float) -> float:
        """Seconds of working time in [start, end)."""
        total = 0.0
        t = start
        while t < end:
            period = self.period_at(t)
            stop = min(end, period.end)
            if period.kind is PeriodKind.WORK:
                total += stop - t
            t = stop
        return total

    def shifts_ending(self):
        """(start, end) of every shift from t = 0 on, in the order they end."""
        day = 0
        while True:
            midnight = self._origin + day * DAY
            if (self._start_weekday + day) % 7 in self.workdays:
                for shift in sorted(self.shifts, key=lambda s: s.end):
                    yield midnight + shift.start, midnight + shift.end
            day += 1

    # -- generation ------------------------------------------------------------------------

    def _extend(self, until: float) -> None:
        while not self._periods or self._periods[-1].end <= until:
            self._build_day(self._days_built)
            self._days_built += 1

    def _build_day(self, day: int) -> None:
        midnight = self._origin + day * DAY
        pieces: list[Period] = []
        if (self._start_weekday + day) % 7 in self.workdays:
            for shift in self.shifts:
                t = midnight + shift.start
                for brk in sorted(shift.breaks, key=lambda b: b.start):
                    b_start = midnight + brk.start
                    b_end = b_start + brk.duration
                    pieces.append(Period(t, b_start, PeriodKind.WORK))
                    pieces.append(Period(b_start, b_end, PeriodKind.BREAK))
                    t = b_end
                pieces.append(Period(t, midnight + shift.end, PeriodKind.WORK))
        self._append_from(pieces, day_end=midnight + DAY)

    def _append_from(self, pieces: list[Period], day_end: float) -> None:
        cursor = self._periods[-1].end if self._periods else 0.0
        for piece in pieces:
            start, end = max(piece.start, cursor), piece.end
            if end <= start:
                continue
            if start > cursor:
                self._add(Period(cursor, start, PeriodKind.OFF))
            self._add(Period(start, end, piece.kind))
            cursor = end
        if cursor < day_end:
            self._add(Period(cursor, day_end, PeriodKind.OFF))

    def _add(self, period: Period) -> None:
        last = self._periods[-1] if self._periods else None
        if last is not None and last.kind is period.kind and last.end == period.start:
            self._periods[-1] = Period(last.start, period.end, period.kind)
            return
        self._periods.append(period)
        self._starts.append(period.start)
