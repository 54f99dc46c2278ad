"""A production cell: takes lots from its input buffer, sets up, makes parts, passes them on.

Every kind of cell (punch/laser, press brake, cobot station, packing) runs the same life:

    take the lot its dispatch rule picks (starved while there is none) -> set up (needs a
    skilled operator; job data by hand where the machine is not coupled) -> make each part
    (failures, short stops, scrap and rework on the way) -> hand the lot on (blocked while
    the next buffer is full)

What differs per kind lives in `cell_parts` (press brake tooling, cobot safety, laser and
PackML states); failures and maintenance in `breakdowns`; what the cell's connectivity
changes in `coupling`, `dispatch` and `job_data`. A cell sees the plant only through its
`CellContext`.

The cell books every moment to one `Activity`. An activity that only waits is shown as a
break or as off-shift outside working time, so that the state times add up to the
simulated time and fall into the right ISO 22400 category.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from factory_sim.breakdowns import Breakdowns, lognormal
from factory_sim.cell_context import CellContext
from factory_sim.cell_parts import CobotSafety, PressBrakeTooling, parts_for
from factory_sim.coupling import Coupling
from factory_sim.dispatch import Dispatcher, DispatchQueue
from factory_sim.events import (
    AlarmCleared,
    AlarmRaised,
    JobStarted,
    PartFinished,
    PartOutcome,
    StateChanged,
)
from factory_sim.job import Job
from factory_sim.job_data import JobDataTransfer
from factory_sim.job_orders import JobOrderBook
from factory_sim.shift_calendar import PeriodKind
from factory_sim.states import Activity, AlarmKind, ConnectivityLevel

if TYPE_CHECKING:
    from factory_sim.orders import Order
    from factory_sim.scenario import CellSpec, ProductSpec

A = Activity
POWER_OF = {
    A.PRODUCING: "producing", A.SHORT_STOP: "idle", A.SETUP: "setup", A.STARVED: "idle",
    A.BLOCKED: "idle", A.WAITING_OPERATOR: "idle", A.STOPPED: "idle", A.FAILED: "down",
    A.REPAIR: "down", A.MAINTENANCE: "down", A.BREAK: "idle", A.OFF_SHIFT: "off_shift",
}

SEVERITY = {AlarmKind.FAILURE: 800, AlarmKind.PROTECTIVE_STOP: 600,
            AlarmKind.TOOL_WEAR: 500, AlarmKind.CONDITION: 400}


class CommandRejected(Exception):
    """An operator command that the cell's current state does not allow."""


class Cell:
    def __init__(self, ctx: CellContext, spec: CellSpec, cell_id: str, coupling: Coupling):
        self.ctx = ctx
        self.env = env = ctx.env
        self.publish = ctx.publish
        self.streams = streams = ctx.streams
        self.spec = spec
        self.id = cell_id
        self.kind = spec.kind
        self.coupling = coupling
        self.level = coupling.level

        # Cycle-time variation is drawn a batch at a time: one draw per part is the model's
        # most frequent random number, and numpy draws thousands for the cost of a few.
        self._rng_cycle = np.random.default_rng(streams.get("cycle", cell_id).getrandbits(64))
        self._factors: list[float] = []
        self._factor_index = 0
        self._rng_quality = streams.get("quality", cell_id)
        self._rng_stops = streams.get("short-stops", cell_id)
        self._rng_job_data = streams.get("job-data", cell_id)
        self._mu, self._sigma = lognormal(1.0, spec.cycle_variation)
        self._slow = 1.0 + spec.speed_loss
        self._power = {a: getattr(spec.power, key) for a, key in POWER_OF.items()}
        self._standby_after = coupling.standby_after
        offline = coupling.now(network_up=False)  # while the network is down
        self._standby_offline = offline.standby_after
        self._standby_kw = spec.power.standby if (
            self._standby_after is not None or self._standby_offline is not None) else None
        self.job_data = JobDataTransfer(ctx.job_data, coupling.job_data_by_hand)
        self._job_data_offline = JobDataTransfer(ctx.job_data, offline.job_data_by_hand)
        self._observe = ctx.observe
        self._live_delay = coupling.live_delay

        # State and counters.
        self.activity: Activity | None = None
        self.power_kw = 0.0
        self.energy_kwh = 0.0
        self._intended = A.STARVED
        self._since = 0.0
        self._power_since = 0.0
        self._changes = 0
        self.time_in: dict[Activity, float] = dict.fromkeys(Activity, 0.0)
        self.good = self.scrap = self.rework = self.cycles = 0
        self.job: Job | None = None
        self.family: str | None = None
        self.variant: str | None = None
        self.active_alarms: dict[str, AlarmRaised] = {}

        # The parts of its kind, failures, and how it picks its next lot.
        self.parts = parts_for(self, ctx.products)
        self.tooling = next((p for p in self.parts if isinstance(p, PressBrakeTooling)), None)
        self.safety = next((p for p in self.parts if isinstance(p, CobotSafety)), None)
        self.breakdowns = Breakdowns(self)
        self.dispatcher = Dispatcher(
            dispatch=coupling.dispatch, sequencing=coupling.sequencing,
            slack=ctx.dispatch.sequencing_slack, setup=self.setup_needed,
            believed_down=ctx.believed_down, network=ctx.network,
            upcoming=lambda lot: lot.product.routing[lot.step + 1:lot.step + 2],
            offline=(offline.dispatch, offline.sequencing))
        self.input = DispatchQueue(env, spec.buffer, self.dispatcher.pick)
        # Job orders: a cell on OPC UA or unified receives its lots as job orders.
        self.job_orders = (JobOrderBook(self) if self.level >= ConnectivityLevel.OPCUA
                           else None)
        if self.job_orders is not None:
            self.input.on_stored = self.job_orders.lot_arrived
        self._job_command: str | None = None  # "hold" or "end": a client's job order command
        self._job_released = None

        # Commands and waits.
        self._stop_requested = False
        self._start_event = None
        self._reset_event = None
        self.waiting_for_shift = False
        self._waiting_for_input = False
        self.process = env.process(self._life())

    @property
    def alarm_kinds(self) -> tuple[AlarmKind, ...]:
        """The alarms this cell can raise, so that consumers can prepare for them."""
        kinds = [AlarmKind.FAILURE]
        if self.breakdowns.predictive:
            kinds.append(AlarmKind.CONDITION)
        for part in self.parts:
            kinds.extend(part.alarm_kinds)
        return tuple(kinds)

    @property
    def failures(self) -> int:
        return self.breakdowns.failures

    def setup_needed(self, lot: Order) -> int:
        """0 none (same variant), 1 a short one (same family or tool), 2 a full one."""
        product = lot.product
        if product.name == self.variant:
            return 0
        if self.tooling is not None:
            return 1 if product.tool == self.tooling.tool else 2
        return 1 if product.family == self.family else 2

    # -- the cell's life -------------------------------------------------------------------

    def _life(self):
        if self.tooling is not None:
            self.tooling.announce()
        self.set_activity(A.STOPPED if self._stop_requested else A.STARVED)
        hand_on = self.ctx.hand_on
        while True:
            self._waiting_for_input = True
            if not self._stop_requested:
                self.set_activity(A.STARVED)
            order = yield self.input.get()
            self._waiting_for_input = False
            if self.job_orders is not None:
                self.job_orders.lot_taken(order)
            yield from self._ready()
            wrong_first = yield from self._set_up(order.product)
            yield from self._make_lot(order, wrong_first)
            self._job_command = None
            if self.job_orders is not None and self.job_orders.lot_done(order):
                self.job = None
                continue  # a client's job order: its lot leaves the plant here
            self.job = None
            order.step += 1
            put = hand_on(order)
            if put is not None and not put.triggered:
                self.set_activity(A.BLOCKED)
                yield put

    def _ready(self):
        """Wait until the cell may start something new: not stopped, and in working time."""
        working_time = self.ctx.working_time
        while True:
            if self._stop_requested:
                self.set_activity(A.STOPPED)
                self._start_event = self.env.event()
                yield self._start_event
                continue
            if self._job_command == "hold":
                self.set_activity(A.STOPPED)
                self._job_released = self.env.event()
                yield self._job_released
                continue
            if working_time.period_kind is not PeriodKind.WORK:
                if self.breakdowns.warned:  # maintenance planned into the break
                    yield from self.breakdowns.planned_maintenance()
                    continue
                self.set_activity(A.STARVED)  # shown as break or off-shift
                self.waiting_for_shift = True
                yield working_time.work_resumes
                self.waiting_for_shift = False
                continue
            return

    def _set_up(self, product: ProductSpec):
        """Set up for the product; True if its first part will be made with a wrong parameter."""
        new_job = self.variant != product.name
        if self.tooling is not None:
            yield from self.tooling.set_up(product)
            duration = 0.0  # the automatic tool changer needs no operator
        elif not new_job:
            duration = 0.0
        elif self.family == product.family:
            duration = self.spec.setup.same_family
        else:
            duration = self.spec.setup.other_family
        wrong_first = False
        if new_job:
            # Drawn at every change of job, whatever the level (common random numbers).
            draw = self._rng_job_data.random
            network = self.ctx.network
            transfer = (self.job_data if network is None or network.up
                        else self._job_data_offline)
            wrong_first = transfer.first_part_wrong(draw())
            duration += transfer.extra_setup(draw(), draw())
        if duration > 0:
            operator = yield from self.operator()
            self.set_activity(A.SETUP)
            yield self.env.timeout(duration)
            self.release_operator(operator)
        self.family = product.family
        self.variant = product.name
        return wrong_first

    def operator(self):
        request = self.ctx.operators.request(self.spec.name)
        if not request.triggered:
            self.set_activity(A.WAITING_OPERATOR)
        operator = yield request
        return operator

    def release_operator(self, operator: str) -> None:
        self.ctx.operators.release(operator)

    def _make_lot(self, order: Order, wrong_first: bool):
        # The per-part path runs hundreds of thousands of times a simulated year, so the
        # common case stays inline and on local names; rare turns (failures, stops,
        # maintenance) are generators.
        env = self.env
        working_time = self.ctx.working_time
        publish = self.publish
        spec = self.spec
        cell_id, order_id, variant = self.id, order.id, order.product.name
        planned = remaining = order.alive
        job = self.job = Job(order_id, variant, planned)
        publish(JobStarted(env.now, cell_id, order_id, variant, planned))
        cycle = self.ctx.planned_cycle_time(cell_id, variant)
        base = cycle * self._slow
        sigma = self._sigma
        factors, index = self._factors, self._factor_index
        quality = self._rng_quality.random
        scrap = spec.scrap
        scrap_or_rework = scrap + spec.rework
        stop_chance = spec.short_stops.probability
        stop_draw = self._rng_stops.random
        safety = self.safety
        protective_chance = safety.chance_per_part(cycle) if safety is not None else 0.0
        tooling = self.tooling
        bends = order.product.bends
        breakdowns = self.breakdowns
        predictive = breakdowns.predictive
        work = PeriodKind.WORK
        producing = A.PRODUCING
        good, scrapped, rework = PartOutcome.GOOD, PartOutcome.SCRAP, PartOutcome.REWORK
        while remaining:
            if (self._stop_requested or self._job_command is not None
                    or working_time.period_kind is not work):
                yield from self._ready()
                if self._job_command == "end":
                    break
            if predictive and breakdowns.foreseen:
                yield from breakdowns.planned_maintenance()
                continue
            if sigma:
                if index == len(factors):
                    factors = self._factors = self._rng_cycle.lognormal(
                        self._mu, sigma, 4096).tolist()
                    index = 0
                duration = base * factors[index]
                index += 1
            else:
                duration = base
            if self.activity is not producing:
                self.set_activity(producing)
            if duration < breakdowns.ttf:
                yield env.timeout(duration)
                breakdowns.ttf -= duration
            else:
                yield from breakdowns.produce(duration)
            self.cycles += 1
            u = quality()
            if u < scrap or wrong_first:  # a wrong parameter makes the first part scrap
                wrong_first = False
                outcome = scrapped
                self.scrap += 1
                order.scrapped += 1  # it leaves the lot (remade from the start, or short)
                remaining -= 1
            elif u < scrap_or_rework:
                outcome = rework  # made once more, at once
                self.rework += 1
            else:
                outcome = good
                self.good += 1
                job.completed += 1
                remaining -= 1
            publish(PartFinished(env.now, cell_id, order_id, variant, outcome,
                                 job.completed, planned))
            if tooling is not None and tooling.wear(bends) and remaining:
                yield from tooling.replace()
            if stop_chance and stop_draw() < stop_chance:
                self.set_activity(A.SHORT_STOP)
                yield env.timeout(self._rng_stops.expovariate(1.0 / spec.short_stops.mean))
            if protective_chance and safety.rng.random() < protective_chance:
                yield from safety.protective_stop_after_part()
        self._factor_index = index  # the next lot goes on with this cell's batch of draws

    def await_reset(self, delay: float):
        """The fault stays `delay` seconds until an operator resets it on site, unless
        someone resets it remotely first."""
        env = self.env
        self._reset_event = env.event()
        yield env.timeout(delay) | self._reset_event
        self._reset_event = None

    # -- state, energy, alarms -------------------------------------------------------------

    def set_activity(self, activity: Activity) -> None:
        self._intended = activity
        self.refresh()

    def refresh(self) -> None:
        """Book the time so far and show the activity the calendar allows now."""
        activity = self._intended
        if not activity.is_work:
            kind = self.ctx.working_time.period_kind
            if kind is not PeriodKind.WORK:
                activity = A.BREAK if kind is PeriodKind.BREAK else A.OFF_SHIFT
        if activity is self.activity:
            return
        now = self.env.now
        if self.activity is not None:
            self.time_in[self.activity] += now - self._since
            self.energy_kwh += self.power_kw * (now - self._power_since) / 3600.0
        self._since = self._power_since = now
        self._changes += 1
        self.activity = activity
        self.power_kw = self._power[activity]
        self.publish(StateChanged(now, self.id, activity, self.power_kw, self.energy_kwh))
        self._observe(self.id, self._live_delay, activity, now)
        for part in self.parts:
            part.on_activity(activity, now)
        if activity.is_idle and self._standby_kw is not None:
            network = self.ctx.network
            after = (self._standby_after if network is None or network.up
                     else self._standby_offline)
            if after is not None:
                changes = self._changes
                self.env.timeout(after).callbacks.append(lambda _event: self._standby(changes))

    def _standby(self, changes: int) -> None:
        """Still idle since the timer started: switch it to standby."""
        if changes != self._changes or self._standby_kw >= self.power_kw:
            return
        now = self.env.now
        self.energy_kwh += self.power_kw * (now - self._power_since) / 3600.0
        self._power_since = now
        self.power_kw = self._standby_kw
        self.publish(StateChanged(now, self.id, self.activity, self.power_kw, self.energy_kwh))

    def energy_until_now(self) -> float:
        """kWh used since the start, the current activity's share included."""
        return self.energy_kwh + self.power_kw * (self.env.now - self._power_since) / 3600.0

    def state_times(self) -> dict[Activity, float]:
        """Time booked per activity up to now, the current activity included."""
        times = dict(self.time_in)
        if self.activity is not None:
            times[self.activity] += self.env.now - self._since
        return times

    def raise_alarm(self, alarm_id: str, kind: AlarmKind, message: str) -> None:
        event = AlarmRaised(self.env.now, self.id, alarm_id, kind, SEVERITY[kind], message)
        self.active_alarms[alarm_id] = event
        self.publish(event)

    def clear_alarm(self, alarm_id: str) -> None:
        del self.active_alarms[alarm_id]
        self.publish(AlarmCleared(self.env.now, self.id, alarm_id))

    # -- operator commands -----------------------------------------------------------------

    def stop(self) -> None:
        if self._stop_requested:
            raise CommandRejected(f"{self.id} is already stopped")
        if self.activity in (A.FAILED, A.REPAIR):
            raise CommandRejected(f"{self.id} is out of service")
        self._stop_requested = True
        if self._waiting_for_input:
            self.set_activity(A.STOPPED)

    def start(self) -> None:
        if not self._stop_requested:
            raise CommandRejected(f"{self.id} is not stopped")
        self._stop_requested = False
        if self._start_event is not None:
            self._start_event.succeed()
            self._start_event = None
        elif self._waiting_for_input:
            self.set_activity(A.STARVED)

    def hold_job(self) -> None:
        """Pause the job under way after the part being made."""
        self._job_command = "hold"

    def release_job(self) -> None:
        self._job_command = None
        self._wake_job()

    def end_job(self) -> None:
        """End the job under way after the part being made (stopped or aborted)."""
        self._job_command = "end"
        self._wake_job()

    def _wake_job(self) -> None:
        if self._job_released is not None and not self._job_released.triggered:
            self._job_released.succeed()
        self._job_released = None

    def reset_fault(self) -> None:
        if self._reset_event is None or self.activity not in (A.REPAIR, A.SHORT_STOP):
            raise CommandRejected(f"{self.id} has no fault waiting for a reset")
        self._reset_event.succeed()
        self._reset_event = None
