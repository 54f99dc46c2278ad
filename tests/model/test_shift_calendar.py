"""The shift calendar cuts time into work, breaks and unplanned time."""

import doctest
import itertools

import factory_sim.shift_calendar as shift_calendar
from factory_sim.shift_calendar import Break, PeriodKind, Shift, ShiftCalendar

H = 3600.0


def two_shifts(start_weekday=0, start_offset=0.0):
    return ShiftCalendar(
        shifts=[Shift("early", 6 * H, 14 * H, [Break(9 * H, 900)]),
                Shift("late", 14 * H, 22 * H, [Break(17 * H, 1800)])],
        workdays={0, 1, 2, 3, 4}, start_weekday=start_weekday, start_offset=start_offset)


def test_doctests():
    assert doctest.testmod(shift_calendar).failed == 0


def test_periods_are_contiguous_and_merge_back_to_back_shifts():
    periods = []
    for period in two_shifts().periods():
        if period.start >= 7 * 24 * H:
            break
        periods.append(period)
    assert periods[0].start == 0.0
    assert all(a.end == b.start for a, b in itertools.pairwise(periods))
    monday = [p for p in periods if p.start < 24 * H]
    assert [p.kind for p in monday] == [PeriodKind.OFF, PeriodKind.WORK, PeriodKind.BREAK,
                                        PeriodKind.WORK, PeriodKind.BREAK, PeriodKind.WORK,
                                        PeriodKind.OFF]
    work = sum(p.end - p.start for p in periods if p.kind is PeriodKind.WORK)
    assert work == 5 * (16 * H - 900 - 1800)  # weekends are unplanned


def test_weekend_and_start_offset():
    cal = two_shifts(start_weekday=4, start_offset=20 * H)  # Friday 20:00
    assert cal.is_working(0.0)
    assert not cal.is_working(3 * H)  # Friday 23:00
    assert cal.next_work_start(3 * H) == (2 * 24 + 4 + 6) * H  # Monday 06:00


def test_working_time_arithmetic():
    cal = two_shifts()
    assert cal.add_working_time(8 * H, H) == 9 * H  # up to the break, not past it
    assert cal.add_working_time(8 * H, 1.5 * H) == 9.75 * H  # 09:00-09:15 is a break
    assert cal.working_time_between(8 * H, 10 * H) == 2 * H - 900
    assert cal.working_time_between(21 * H, 31 * H) == 2 * H  # 21-22 and 06-07


def test_shift_ends_in_order():
    ends = []
    for start, end in two_shifts().shifts_ending():
        ends.append((start / H, end / H))
        if len(ends) == 3:
            break
    assert ends == [(6, 14), (14, 22), (30, 38)]
