"""The shift calendar as the cells live it: which kind of period it is now, and when work
resumes. The plant advances it; cells only read it."""

from __future__ import annotations

from collections.abc import Callable

import simpy

from factory_sim.shift_calendar import PeriodKind, ShiftCalendar


class WorkingTime:
    def __init__(self, env: simpy.Environment, calendar: ShiftCalendar):
        self.env = env
        self.calendar = calendar
        self.period_kind: PeriodKind = calendar.period_at(0.0).kind
        self.work_resumes = env.event()  # succeeds at the start of the next work period

    def follow(self, on_change: Callable[[], None]):
        """A SimPy process: step through the calendar's periods, calling `on_change` at each."""
        env = self.env
        for period in self.calendar.periods():
            if period.end <= env.now:
                continue
            self.period_kind = period.kind
            on_change()
            if period.kind is PeriodKind.WORK:
                resumes, self.work_resumes = self.work_resumes, env.event()
                resumes.succeed()
            yield env.timeout(period.end - env.now)
