"""A production cell: takes lots from its input buffer, sets up, makes parts, passes them on.

Every kind of cell (punch/laser, press brake, cobot station, packing) runs the same life:

    wait for a lot (starved) -> set up (needs a skilled operator) -> make each part
    (failures, short stops, scrap and rework on the way) -> hand the lot on (blocked while
    the next buffer is full)

What differs per kind is data (cycle times, setups, failure behaviour, power) plus a few
details: the press brake changes tools automatically and wears them out, the cobot has
protective stops, the laser and the packing cell report their own state machines.

The cell books every moment to one `Activity`. An activity that only waits is shown as a
break or as off-shift outside working time, so that the state times add up to the
simulated time and fall into the right ISO 22400 category.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import simpy

from factory_sim.events import (
    AlarmCleared,
    AlarmRaised,
    FailureDetected,
    JobStarted,
    LaserStateChanged,
    PackMLStateChanged,
    PartFinished,
    PartOutcome,
    RepairCompleted,
    RepairStarted,
    SafetyStateChanged,
    StateChanged,
    ToolChanged,
    ToolWorn,
)
from factory_sim.shift_calendar import PeriodKind
from factory_sim.states import (
    Activity,
    AlarmKind,
    CellKind,
    ConnectivityLevel,
    LaserState,
    OperationalMode,
    PackMLState,
)

if TYPE_CHECKING:
    from factory_sim.line import Line
    from factory_sim.orders import Order
    from factory_sim.scenario import CellSpec

A = Activity
POWER_OF = {
    A.PRODUCING: "producing", A.SHORT_STOP: "idle", A.SETUP: "setup", A.STARVED: "idle",
    A.BLOCKED: "idle", A.WAITING_OPERATOR: "idle", A.STOPPED: "idle", A.FAILED: "down",
    A.REPAIR: "down", A.MAINTENANCE: "down", A.BREAK: "idle", A.OFF_SHIFT: "off_shift",
}
LASER_STATE_OF = {
    A.PRODUCING: LaserState.LASER_ON, A.SHORT_STOP: LaserState.LASER_READY,
    A.SETUP: LaserState.SETUP, A.STARVED: LaserState.IDLE, A.BLOCKED: LaserState.IDLE,
    A.WAITING_OPERATOR: LaserState.IDLE, A.STOPPED: LaserState.IDLE, A.FAILED: LaserState.ERROR,
    A.REPAIR: LaserState.MAINTENANCE, A.MAINTENANCE: LaserState.MAINTENANCE,
    A.BREAK: LaserState.ENERGY_SAVING, A.OFF_SHIFT: LaserState.OFF,
}
PACKML_STATE_OF = {
    A.PRODUCING: PackMLState.EXECUTE, A.SHORT_STOP: PackMLState.SUSPENDED,
    A.SETUP: PackMLState.HELD, A.STARVED: PackMLState.SUSPENDED,
    A.BLOCKED: PackMLState.SUSPENDED, A.WAITING_OPERATOR: PackMLState.HELD,
    A.STOPPED: PackMLState.STOPPED, A.FAILED: PackMLState.ABORTED, A.REPAIR: PackMLState.ABORTED,
    A.MAINTENANCE: PackMLState.STOPPED, A.BREAK: PackMLState.IDLE, A.OFF_SHIFT: PackMLState.STOPPED,
}
MANUAL_ACTIVITIES = frozenset({A.SETUP, A.REPAIR, A.MAINTENANCE})

SEVERITY = {AlarmKind.FAILURE: 800, AlarmKind.PROTECTIVE_STOP: 600,
            AlarmKind.TOOL_WEAR: 500, AlarmKind.CONDITION: 400}


class CommandRejected(Exception):
    """An operator command that the cell's current state does not allow."""


class Cell:
    def __init__(self, line: Line, spec: CellSpec, cell_id: str, level: ConnectivityLevel):
        plant = line.plant
        self.line = line
        self.env: simpy.Environment = plant.env
        self.spec = spec
        self.id = cell_id
        self.kind = spec.kind
        self.level = level
        info = plant.scenario.information
        # Whether the planner and maintenance see this cell live, and how late.
        if level >= ConnectivityLevel.OPCUA:
            self.live_delay: float | None = info.opcua_publish
        elif level is ConnectivityLevel.VENDOR and spec.mapped:
            self.live_delay = info.vendor_poll
        else:
            self.live_delay = None
        self.predictive = level >= ConnectivityLevel.UNIFIED
        self.input = simpy.Store(self.env, capacity=spec.buffer)

        streams = plant.streams
        # Cycle-time variation is drawn a batch at a time: one draw per part is the model's
        # most frequent random number, and numpy draws thousands for the cost of a few.
        self._rng_cycle = np.random.default_rng(streams.get("cycle", cell_id).getrandbits(64))
        self._factors: list[float] = []
        self._factor_index = 0
        self._rng_quality = streams.get("quality", cell_id)
        self._rng_failures = streams.get("failures", cell_id)
        self._rng_detection = streams.get("detection", cell_id)
        self._rng_response = streams.get("response", cell_id)
        self._rng_stops = streams.get("short-stops", cell_id)
        self._rng_safety = streams.get("safety", cell_id)
        cv = spec.cycle_variation
        self._mu, self._sigma = _lognormal(1.0, cv)  # factors around the planned cycle
        self._slow = 1.0 + spec.speed_loss
        self._power = {a: getattr(spec.power, key) for a, key in POWER_OF.items()}
        self._publish = plant.bus.publish
        self._plant = plant
        self._information = line.information

        # State and counters.
        self.activity: Activity | None = None
        self.power_kw = 0.0
        self.energy_kwh = 0.0
        self._intended = A.STARVED
        self._since = 0.0
        self.time_in: dict[Activity, float] = dict.fromkeys(Activity, 0.0)
        self.good = self.scrap = self.rework = self.cycles = 0
        self.job: tuple[str, str, int, int] | None = None  # order, variant, planned, completed
        self.family: str | None = None
        self.variant: str | None = None
        self.failures = 0
        self.active_alarms: dict[str, AlarmRaised] = {}
        self.laser_state: LaserState | None = None
        self.packml_state: PackMLState | None = None
        self.protective_stop = False
        self.operational_mode: OperationalMode | None = None
        self.tool: str | None = None
        self.tool_life: dict[str, int] = {}
        self.tool_changes = 0
        self._tool_alarm: str | None = None

        # Commands and waits.
        self._stop_requested = False
        self._start_event: simpy.Event | None = None
        self._reset_event: simpy.Event | None = None
        self.waiting_for_shift = False
        self._waiting_for_input = False
        self._new_failure_cycle()
        if spec.tooling is not None:
            self._init_tools(plant)
        self.process = self.env.process(self._life())

    @property
    def alarm_kinds(self) -> tuple[AlarmKind, ...]:
        """The alarms this cell can raise, so that consumers can prepare for them."""
        spec = self.spec
        kinds = [AlarmKind.FAILURE]
        if self.predictive:
            kinds.append(AlarmKind.CONDITION)
        if spec.tooling is not None:
            kinds.append(AlarmKind.TOOL_WEAR)
        if spec.protective_stops is not None and spec.protective_stops.per_hour:
            kinds.append(AlarmKind.PROTECTIVE_STOP)
        return tuple(kinds)

    # -- the cell's life -------------------------------------------------------------------

    def _life(self):
        if self.kind is CellKind.PRESS_BRAKE:
            self._publish(ToolChanged(0.0, self.id, self.tool, self.tool_life[self.tool], 0))
        self._set(A.STOPPED if self._stop_requested else A.STARVED)
        line = self.line
        while True:
            self._waiting_for_input = True
            if not self._stop_requested:
                self._set(A.STARVED)
            order = yield self.input.get()
            self._waiting_for_input = False
            yield from self._ready()
            yield from self._set_up(order)
            yield from self._make_lot(order)
            self.job = None
            order.step += 1
            if order.alive == 0 or order.step >= len(order.product.routing):
                line.complete(order, self)
                continue
            put = line.cells_by_name[order.product.routing[order.step]].input.put(order)
            if not put.triggered:
                self._set(A.BLOCKED)
                yield put

    def _ready(self):
        """Wait until the cell may start something new: not stopped, and in working time."""
        while True:
            if self._stop_requested:
                self._set(A.STOPPED)
                self._start_event = self.env.event()
                yield self._start_event
                continue
            plant = self.line.plant
            if plant.period_kind is not PeriodKind.WORK:
                self._set(A.STARVED)  # shown as break or off-shift
                self.waiting_for_shift = True
                yield plant.work_resumes
                self.waiting_for_shift = False
                continue
            return

    def _set_up(self, order: Order):
        product = order.product
        if self.kind is CellKind.PRESS_BRAKE:
            if self.tool != product.tool:
                self._set(A.SETUP)  # the automatic tool changer needs no operator
                yield self.env.timeout(self.spec.tooling.change)
                self.tool_changes += 1
                self.tool = product.tool
                self._publish(ToolChanged(self.env.now, self.id, self.tool,
                                          self.tool_life[self.tool], self.tool_changes))
            if self.tool_life[self.tool] < product.bends:
                yield from self._replace_tool()
            duration = 0.0
        elif self.variant == product.name:
            duration = 0.0
        elif self.family == product.family:
            duration = self.spec.setup.same_family
        else:
            duration = self.spec.setup.other_family
        if duration > 0:
            operator = yield from self._operator()
            self._set(A.SETUP)
            yield self.env.timeout(duration)
            self.line.operators.release(operator)
        self.family = product.family
        self.variant = product.name

    def _operator(self):
        request = self.line.operators.request(self.spec.name)
        if not request.triggered:
            self._set(A.WAITING_OPERATOR)
        operator = yield request
        return operator

    def _make_lot(self, order: Order):
        # The per-part path runs hundreds of thousands of times a simulated year, so the
        # common case stays inline; rare turns (failures, stops, maintenance) are generators.
        env = self.env
        plant = self.line.plant
        publish = self._publish
        spec = self.spec
        product = order.product
        planned = remaining = order.alive
        completed = 0
        self.job = (order.id, product.name, planned, 0)
        publish(JobStarted(env.now, self.id, order.id, product.name, planned))
        cycle = plant.planned_cycle_time(self.id, product.name)
        base = cycle * self._slow
        sigma = self._sigma
        quality = self._rng_quality.random
        scrap = spec.scrap
        scrap_or_rework = scrap + spec.rework
        stop_chance = spec.short_stops.probability
        protective_chance = (spec.protective_stops.per_hour * cycle / 3600.0
                             if spec.protective_stops is not None else 0.0)
        press_brake = self.kind is CellKind.PRESS_BRAKE
        while remaining:
            if self._stop_requested or plant.period_kind is not PeriodKind.WORK:
                yield from self._ready()
            if self.predictive and self._predicted and self._ttf <= self._lead:
                yield from self._planned_maintenance()
                continue
            if sigma:
                if self._factor_index == len(self._factors):
                    self._factors = self._rng_cycle.lognormal(self._mu, sigma, 4096).tolist()
                    self._factor_index = 0
                duration = base * self._factors[self._factor_index]
                self._factor_index += 1
            else:
                duration = base
            if self.activity is not A.PRODUCING:
                self._set(A.PRODUCING)
            if duration < self._ttf:
                yield env.timeout(duration)
                self._ttf -= duration
            else:
                yield from self._fail_during(duration)
            self.cycles += 1
            u = quality()
            if u < scrap:
                outcome = PartOutcome.SCRAP
                self.scrap += 1
                order.scrapped += 1
                remaining -= 1
            elif u < scrap_or_rework:
                outcome = PartOutcome.REWORK  # made once more, at once
                self.rework += 1
            else:
                outcome = PartOutcome.GOOD
                self.good += 1
                completed += 1
                remaining -= 1
            self.job = (order.id, product.name, planned, completed)
            publish(PartFinished(env.now, self.id, order.id, product.name, outcome,
                                 completed, planned))
            if press_brake and self._wear_tool(product.bends) and remaining:
                yield from self._replace_tool()
            if stop_chance and self._rng_stops.random() < stop_chance:
                self._set(A.SHORT_STOP)
                yield env.timeout(self._rng_stops.expovariate(1.0 / spec.short_stops.mean))
            if protective_chance and self._rng_safety.random() < protective_chance:
                yield from self._protective_stop(
                    self._rng_safety.expovariate(1.0 / spec.protective_stops.mean))

    def _fail_during(self, duration: float):
        """Make a part during which the machine breaks down (perhaps more than once)."""
        env = self.env
        while duration >= self._ttf:
            yield env.timeout(self._ttf)
            duration -= self._ttf
            yield from self._breakdown()
            self._set(A.PRODUCING)
        yield env.timeout(duration)
        self._ttf -= duration

    # -- failures and maintenance ----------------------------------------------------------

    def _new_failure_cycle(self) -> None:
        """Draw the next failure: operating time to it, its repair, whether it is foreseen.

        All three are drawn at every cycle, whatever the level, so that every level sees
        the same failures (common random numbers)."""
        rng = self._rng_failures
        self._ttf = rng.expovariate(1.0 / self.spec.mtbf)
        self._repair_time = rng.lognormvariate(*_lognormal(self.spec.mttr, 0.5))
        maintenance = self.line.plant.scenario.maintenance
        self._predicted = rng.random() < maintenance.predictive.coverage
        self._lead = maintenance.predictive.lead

    def _breakdown(self):
        env = self.env
        plant = self.line.plant
        calendar = plant.calendar
        maintenance = plant.scenario.maintenance
        self.failures += 1
        alarm_id = f"{self.id}/failure/{self.failures}"
        failed_at = env.now
        self._set(A.FAILED)
        self._raise(alarm_id, AlarmKind.FAILURE, f"{self.spec.name}: machine breakdown")
        if self.live_delay is not None:
            delay = self.live_delay  # the alarm reaches maintenance at once
        else:
            noticed = self._rng_detection.expovariate(1.0 / maintenance.detection_standalone)
            delay = calendar.add_working_time(env.now, noticed) - env.now
        yield env.timeout(delay)
        detected_at = env.now
        self._publish(FailureDetected(detected_at, self.id, alarm_id, failed_at))
        with self.line.crew.request() as technician:
            yield technician
            travel = self._rng_response.expovariate(1.0 / maintenance.response)
            yield env.timeout(calendar.add_working_time(env.now, travel) - env.now)
            arrived_at = env.now
            self._publish(RepairStarted(arrived_at, self.id, alarm_id))
            self._set(A.REPAIR)
            yield env.timeout(calendar.add_working_time(env.now, self._repair_time) - env.now)
        reset_due = calendar.add_working_time(env.now, maintenance.reset) - env.now
        yield from self._await_reset(reset_due)
        self._clear(alarm_id)
        self._publish(RepairCompleted(
            env.now, self.id, alarm_id,
            calendar.working_time_between(failed_at, detected_at),
            calendar.working_time_between(detected_at, arrived_at),
            calendar.working_time_between(arrived_at, env.now),
        ))
        self._new_failure_cycle()

    def _planned_maintenance(self):
        """Condition monitoring foresaw the failure: maintain now instead of failing later."""
        env = self.env
        plant = self.line.plant
        self.failures += 1
        alarm_id = f"{self.id}/condition/{self.failures}"
        self._raise(alarm_id, AlarmKind.CONDITION,
                    f"{self.spec.name}: condition monitoring predicts a failure")
        with self.line.crew.request() as technician:
            if not technician.triggered:
                self._set(A.WAITING_OPERATOR)
            yield technician
            self._set(A.MAINTENANCE)
            duration = plant.scenario.maintenance.predictive.duration
            yield env.timeout(plant.calendar.add_working_time(env.now, duration) - env.now)
        self._clear(alarm_id)
        self._new_failure_cycle()

    def _await_reset(self, delay: float):
        """The fault stays `delay` seconds until an operator resets it on site, unless
        someone resets it remotely first."""
        env = self.env
        self._reset_event = env.event()
        yield env.timeout(delay) | self._reset_event
        self._reset_event = None

    def _protective_stop(self, duration: float):
        alarm_id = f"{self.id}/protective-stop/{self.cycles}"
        self.protective_stop = True
        self._set(A.SHORT_STOP)
        self._publish_safety()
        self._raise(alarm_id, AlarmKind.PROTECTIVE_STOP,
                    f"{self.spec.name}: protective stop, reset required")
        yield from self._await_reset(duration)
        self.protective_stop = False
        self._clear(alarm_id)
        self._publish_safety()

    # -- the press brake's tools -----------------------------------------------------------

    def _init_tools(self, plant) -> None:
        tooling = self.spec.tooling
        rng = plant.streams.get("tooling", self.id)
        tools = sorted({p.tool for p in plant.scenario.products if self.spec.name in p.routing})
        for tool in tools:
            self.tool_life[tool] = int(tooling.life * rng.uniform(0.3, 1.0))
        self.tool = tools[0]

    def _wear_tool(self, strokes: int) -> bool:
        """Count the strokes of one part; True when the tool cannot make another."""
        tooling = self.spec.tooling
        life = self.tool_life[self.tool] = max(0, self.tool_life[self.tool] - strokes)
        self._publish(ToolWorn(self.env.now, self.id, self.tool, life))
        if self._tool_alarm is None and life <= tooling.warn_at * tooling.life:
            self._tool_alarm = f"{self.id}/tool-wear/{self.tool_changes}-{self.tool}"
            self._raise(self._tool_alarm, AlarmKind.TOOL_WEAR,
                        f"{self.spec.name}: tool {self.tool} worn, {life} strokes left")
        return life < strokes

    def _replace_tool(self):
        operator = yield from self._operator()
        self._set(A.SETUP)
        yield self.env.timeout(self.spec.tooling.replace)
        self.line.operators.release(operator)
        self.tool_life[self.tool] = self.spec.tooling.life
        self.tool_changes += 1
        if self._tool_alarm is not None:
            self._clear(self._tool_alarm)
            self._tool_alarm = None
        self._publish(ToolChanged(self.env.now, self.id, self.tool, self.tool_life[self.tool],
                                  self.tool_changes))

    # -- state, alarms, details ------------------------------------------------------------

    def _set(self, activity: Activity) -> None:
        self._intended = activity
        self.refresh()

    def refresh(self) -> None:
        """Book the time so far and show the activity the calendar allows now."""
        activity = self._intended
        if not activity.is_work:
            kind = self._plant.period_kind
            if kind is not PeriodKind.WORK:
                activity = A.BREAK if kind is PeriodKind.BREAK else A.OFF_SHIFT
        if activity is self.activity:
            return
        now = self.env.now
        if self.activity is not None:
            spent = now - self._since
            self.time_in[self.activity] += spent
            self.energy_kwh += self.power_kw * spent / 3600.0
        self._since = now
        self.activity = activity
        self.power_kw = self._power[activity]
        self._publish(StateChanged(now, self.id, activity, self.power_kw, self.energy_kwh))
        self._information.state_changed(self, activity, now)
        kind = self.kind
        if kind is CellKind.PUNCH_LASER:
            laser = LASER_STATE_OF[activity]
            if laser is not self.laser_state:
                self.laser_state = laser
                self._publish(LaserStateChanged(now, self.id, laser))
        elif kind is CellKind.PACKING:
            packml = PACKML_STATE_OF[activity]
            if packml is not self.packml_state:
                self.packml_state = packml
                self._publish(PackMLStateChanged(now, self.id, packml, self.cycles, self.scrap))
        elif kind is CellKind.COBOT:
            mode = (OperationalMode.MANUAL_REDUCED_SPEED if activity in MANUAL_ACTIVITIES
                    else OperationalMode.AUTOMATIC)
            if mode is not self.operational_mode:
                self.operational_mode = mode
                self._publish_safety()

    def energy_until_now(self) -> float:
        """kWh used since the start, the current activity's share included."""
        return self.energy_kwh + self.power_kw * (self.env.now - self._since) / 3600.0

    def state_times(self) -> dict[Activity, float]:
        """Time booked per activity up to now, the current activity included."""
        times = dict(self.time_in)
        if self.activity is not None:
            times[self.activity] += self.env.now - self._since
        return times

    def _publish_safety(self) -> None:
        self._publish(SafetyStateChanged(self.env.now, self.id, self.protective_stop, False,
                                         self.operational_mode))

    def _raise(self, alarm_id: str, kind: AlarmKind, message: str) -> None:
        event = AlarmRaised(self.env.now, self.id, alarm_id, kind, SEVERITY[kind], message)
        self.active_alarms[alarm_id] = event
        self._publish(event)

    def _clear(self, alarm_id: str) -> None:
        del self.active_alarms[alarm_id]
        self._publish(AlarmCleared(self.env.now, self.id, alarm_id))

    # -- operator commands -----------------------------------------------------------------

    def stop(self) -> None:
        if self._stop_requested:
            raise CommandRejected(f"{self.id} is already stopped")
        if self.activity in (A.FAILED, A.REPAIR):
            raise CommandRejected(f"{self.id} is out of service")
        self._stop_requested = True
        if self._waiting_for_input:
            self._set(A.STOPPED)

    def start(self) -> None:
        if not self._stop_requested:
            raise CommandRejected(f"{self.id} is not stopped")
        self._stop_requested = False
        if self._start_event is not None:
            self._start_event.succeed()
            self._start_event = None
        elif self._waiting_for_input:
            self._set(A.STARVED)

    def reset_fault(self) -> None:
        if self._reset_event is None or self.activity not in (A.REPAIR, A.SHORT_STOP):
            raise CommandRejected(f"{self.id} has no fault waiting for a reset")
        self._reset_event.succeed()
        self._reset_event = None


def _lognormal(mean: float, cv: float) -> tuple[float, float]:
    """(mu, sigma) of a lognormal distribution with the given mean and variation."""
    sigma = math.sqrt(math.log(1.0 + cv * cv))
    return math.log(mean) - 0.5 * sigma * sigma, sigma
