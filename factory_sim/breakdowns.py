"""Failures of one cell, how they are noticed and repaired, and condition-based maintenance.

Time to failure is drawn on producing time (MTBF); the repair is lognormal around MTTR.
Where the cell notifies by alarm, the failure alarm reaches maintenance within the
publishing interval; elsewhere somebody has to notice (`detection_standalone`, working time). With
condition monitoring (`mechanisms.maintenance: predictive`) a share `coverage` of the
failures is foreseen `lead` producing seconds ahead and replaced by a short planned
maintenance, done in the next break or at shift end when that comes within
`into_break_within` (the failure may strike first), else at once; false alarms at
`false_alarms_per_week` (working time) cost a planned maintenance too.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from factory_sim.events import FailureDetected, RepairCompleted, RepairStarted
from factory_sim.shift_calendar import PeriodKind
from factory_sim.states import Activity, AlarmKind

WEEK_OF_WORK = 5 * 16 * 3600.0  # a working week of two shifts: the false-alarm rate's unit

if TYPE_CHECKING:
    from factory_sim.cell import Cell


class Breakdowns:
    def __init__(self, cell: Cell):
        self.cell = cell
        self.spec = cell.spec
        self.maintenance = cell.ctx.maintenance
        streams = cell.streams
        self._rng_failures = streams.get("failures", cell.id)
        self._rng_detection = streams.get("detection", cell.id)
        self._rng_response = streams.get("response", cell.id)
        self.predictive = cell.coupling.predictive
        self.failures = 0
        self.false_alarms = 0
        self._false_alarm = False  # a warning with no failure behind it is pending
        self.ttf = 0.0  # producing seconds to the next failure
        self.new_cycle()
        rate = self.maintenance.predictive.false_alarms_per_week
        if self.predictive and rate > 0:
            cell.env.process(self._false_alarms(streams.get("false-alarms", cell.id), rate))

    def _false_alarms(self, rng, per_week: float):
        env = self.cell.env
        calendar = self.cell.ctx.working_time.calendar
        while True:
            gap = rng.expovariate(per_week / WEEK_OF_WORK)
            yield env.timeout(calendar.add_working_time(env.now, gap) - env.now)
            self._false_alarm = True

    @property
    def warned(self) -> bool:
        """Condition monitoring warns now (of a coming failure, or falsely); not while the
        network its data travels on is down."""
        if not self.predictive:
            return False
        network = self.cell.ctx.network
        if network is not None and not network.up:
            return False
        return self._false_alarm or (self._predicted and self.ttf <= self._lead)

    @property
    def foreseen(self) -> bool:
        """A warning is up and its maintenance cannot wait for the next break."""
        if not self.warned:
            return False
        within = self.maintenance.predictive.into_break_within
        if within <= 0:
            return True
        now = self.cell.env.now
        period = self.cell.ctx.working_time.calendar.period_at(now)
        return period.kind is PeriodKind.WORK and period.end - now > within

    def new_cycle(self) -> None:
        """Draw the next failure: producing time to it, its repair, whether it is foreseen.

        All three are drawn at every cycle, whatever the level, so that every level sees
        the same failures (common random numbers)."""
        rng = self._rng_failures
        self.ttf = rng.expovariate(1.0 / self.spec.mtbf)
        self._repair_time = rng.lognormvariate(*lognormal(self.spec.mttr, 0.5))
        predictive = self.maintenance.predictive
        self._predicted = rng.random() < predictive.coverage
        self._lead = predictive.lead

    def produce(self, duration: float):
        """Make a part during which the machine breaks down (perhaps more than once)."""
        cell = self.cell
        env = cell.env
        while duration >= self.ttf:
            yield env.timeout(self.ttf)
            duration -= self.ttf
            yield from self.breakdown()
            cell.set_activity(Activity.PRODUCING)
        yield env.timeout(duration)
        self.ttf -= duration

    def breakdown(self):
        cell = self.cell
        env = cell.env
        calendar = cell.ctx.working_time.calendar
        maintenance = self.maintenance
        self.failures += 1
        alarm_id = f"{cell.id}/failure/{self.failures}"
        failed_at = env.now
        cell.set_activity(Activity.FAILED)
        cell.raise_alarm(alarm_id, AlarmKind.FAILURE, f"{self.spec.name}: machine breakdown")
        alarm_delay = cell.coupling.alarm_delay
        network = cell.ctx.network
        if alarm_delay is not None and (network is None or network.up):
            delay = alarm_delay  # the alarm reaches maintenance at once
        else:
            noticed = self._rng_detection.expovariate(1.0 / maintenance.detection_standalone)
            delay = calendar.add_working_time(env.now, noticed) - env.now
        yield env.timeout(delay)
        detected_at = env.now
        cell.publish(FailureDetected(detected_at, cell.id, alarm_id, failed_at))
        with cell.ctx.crew.request() as technician:
            yield technician
            travel = self._rng_response.expovariate(1.0 / maintenance.response)
            yield env.timeout(calendar.add_working_time(env.now, travel) - env.now)
            arrived_at = env.now
            cell.publish(RepairStarted(arrived_at, cell.id, alarm_id))
            cell.set_activity(Activity.REPAIR)
            yield env.timeout(calendar.add_working_time(env.now, self._repair_time) - env.now)
        reset_due = calendar.add_working_time(env.now, maintenance.reset) - env.now
        yield from cell.commands.await_reset(reset_due)
        cell.clear_alarm(alarm_id)
        cell.publish(RepairCompleted(
            env.now, cell.id, alarm_id,
            calendar.working_time_between(failed_at, detected_at),
            calendar.working_time_between(detected_at, arrived_at),
            calendar.working_time_between(arrived_at, env.now),
        ))
        self.new_cycle()

    def planned_maintenance(self):
        """Condition monitoring foresaw a failure (or thinks it did): maintain now, in the
        break if it is one (technicians work while production pauses)."""
        cell = self.cell
        env = cell.env
        false_alarm = self._false_alarm and not (self._predicted and self.ttf <= self._lead)
        self._false_alarm = False
        if false_alarm:
            self.false_alarms += 1
        else:
            self.failures += 1
        alarm_id = f"{cell.id}/condition/{self.failures}.{self.false_alarms}"
        cell.raise_alarm(alarm_id, AlarmKind.CONDITION,
                         f"{self.spec.name}: condition monitoring predicts a failure")
        with cell.ctx.crew.request() as technician:
            if not technician.triggered:
                cell.set_activity(Activity.WAITING_OPERATOR)
            yield technician
            cell.set_activity(Activity.MAINTENANCE)
            duration = self.maintenance.predictive.duration
            if cell.ctx.working_time.period_kind is PeriodKind.WORK:
                calendar = cell.ctx.working_time.calendar
                duration = calendar.add_working_time(env.now, duration) - env.now
            yield env.timeout(duration)
        cell.clear_alarm(alarm_id)
        if not false_alarm:
            self.new_cycle()


def lognormal(mean: float, cv: float) -> tuple[float, float]:
    """(mu, sigma) of a lognormal distribution with the given mean and variation."""
    sigma = math.sqrt(math.log(1.0 + cv * cv))
    return math.log(mean) - 0.5 * sigma * sigma, sigma
