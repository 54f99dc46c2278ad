"""A production cell: takes lots from its input buffer, sets up, makes parts, passes them on.

Every kind of cell (punch/laser, press brake, cobot station, packing) runs the same life:

    take the lot its dispatch rule picks (starved while there is none) -> set up (needs a
    skilled operator; job data by hand where the machine is not coupled) -> make each part
    (failures, short stops, scrap and rework on the way) -> hand the lot on (blocked while
    the next buffer is full)

This module is that life and the cell's state; each step's detail has its own module:
`cell_changeover` (setup and job data by hand), `cell_production` (making a lot part by
part), `breakdowns` (failures, repair and maintenance), `cell_energy` (power, energy,
standby), `cell_commands` (stop/start, fault reset, job order hold/release/end). What
differs per kind lives in `cell_parts` (press brake tooling, cobot safety, laser and PackML
states); what the cell's connectivity changes in `coupling`, `dispatch` and `job_data`. A
cell sees the plant only through its `CellContext`.

The cell books every moment to one `Activity`. An activity that only waits is shown as a
break or as off-shift outside working time, so that the state times add up to the
simulated time and fall into the right ISO 22400 category.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from factory_sim.breakdowns import Breakdowns
from factory_sim.cell_changeover import Changeover
from factory_sim.cell_commands import CellCommands
from factory_sim.cell_context import CellContext
from factory_sim.cell_energy import EnergyMeter
from factory_sim.cell_parts import CobotSafety, PressBrakeTooling, parts_for
from factory_sim.cell_production import LotProduction
from factory_sim.coupling import Coupling
from factory_sim.dispatch import Dispatcher, DispatchQueue
from factory_sim.events import AlarmCleared, AlarmRaised, StateChanged
from factory_sim.job import Job
from factory_sim.job_orders import JobOrderBook
from factory_sim.shift_calendar import PeriodKind
from factory_sim.states import Activity, AlarmKind, ConnectivityLevel

if TYPE_CHECKING:
    from factory_sim.scenario import CellSpec

A = Activity
SEVERITY = {AlarmKind.FAILURE: 800, AlarmKind.PROTECTIVE_STOP: 600,
            AlarmKind.TOOL_WEAR: 500, AlarmKind.CONDITION: 400}


class Cell:
    def __init__(self, ctx: CellContext, spec: CellSpec, cell_id: str, coupling: Coupling):
        self.ctx = ctx
        self.env = env = ctx.env
        self.publish = ctx.publish
        self.streams = ctx.streams
        self.spec = spec
        self.id = cell_id
        self.kind = spec.kind
        self.coupling = coupling
        self.level = coupling.level
        offline = coupling.now(network_up=False)  # while the network is down
        self.production = LotProduction(self)
        self.changeover = Changeover(self, coupling, offline)
        self.energy = EnergyMeter(self, coupling, offline)
        self.commands = CellCommands(self)
        self._observe = ctx.observe
        self._live_delay = coupling.live_delay

        # State and counters.
        self.activity: Activity | None = None
        self._intended = A.STARVED
        self._since = 0.0
        self.changes = 0  # of the activity shown, so far
        self.time_in: dict[Activity, float] = dict.fromkeys(Activity, 0.0)
        self.good = self.scrap = self.rework = self.cycles = 0
        self.job: Job | None = None
        self.active_alarms: dict[str, AlarmRaised] = {}

        # The parts of its kind, failures, and how it picks its next lot.
        self.parts = parts_for(self, ctx.products)
        self.tooling = next((p for p in self.parts if isinstance(p, PressBrakeTooling)), None)
        self.safety = next((p for p in self.parts if isinstance(p, CobotSafety)), None)
        self.breakdowns = Breakdowns(self)
        self.dispatcher = Dispatcher(
            dispatch=coupling.dispatch, sequencing=coupling.sequencing,
            slack=ctx.dispatch.sequencing_slack, setup=self.changeover.needed,
            believed_down=ctx.believed_down, network=ctx.network,
            upcoming=lambda lot: lot.product.routing[lot.step + 1:lot.step + 2],
            offline=(offline.dispatch, offline.sequencing))
        self.input = DispatchQueue(env, spec.buffer, self.dispatcher.pick)
        # Job orders: a cell on OPC UA or unified receives its lots as job orders.
        self.job_orders = (JobOrderBook(self) if self.level >= ConnectivityLevel.OPCUA
                           else None)
        if self.job_orders is not None:
            self.input.on_stored = self.job_orders.lot_arrived

        self.waiting_for_shift = False
        self.waiting_for_input = False
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

    # -- the cell's life -------------------------------------------------------------------

    def _life(self):
        if self.tooling is not None:
            self.tooling.announce()
        commands = self.commands
        self.set_activity(A.STOPPED if commands.stop_requested else A.STARVED)
        hand_on = self.ctx.hand_on
        while True:
            self.waiting_for_input = True
            if not commands.stop_requested:
                self.set_activity(A.STARVED)
            order = yield self.input.get()
            self.waiting_for_input = False
            if self.job_orders is not None:
                self.job_orders.lot_taken(order)
            yield from self.ready()
            wrong_first = yield from self.changeover.set_up(order.product)
            yield from self.production.make(order, wrong_first)
            commands.job_command = None
            if self.job_orders is not None and self.job_orders.lot_done(order):
                self.job = None
                continue  # a client's job order: its lot leaves the plant here
            self.job = None
            order.step += 1
            put = hand_on(order)
            if put is not None and not put.triggered:
                self.set_activity(A.BLOCKED)
                yield put

    def ready(self):
        """Wait until the cell may start something new: not stopped, and in working time."""
        working_time = self.ctx.working_time
        commands = self.commands
        while True:
            if commands.stop_requested:
                self.set_activity(A.STOPPED)
                commands.start_event = self.env.event()
                yield commands.start_event
                continue
            if commands.job_command == "hold":
                self.set_activity(A.STOPPED)
                commands.job_released = self.env.event()
                yield commands.job_released
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

    def operator(self):
        """Wait for a skilled operator (shown as waiting for one); returns who came."""
        request = self.ctx.operators.request(self.spec.name)
        if not request.triggered:
            self.set_activity(A.WAITING_OPERATOR)
        operator = yield request
        return operator

    def release_operator(self, operator: str) -> None:
        self.ctx.operators.release(operator)

    # -- state and alarms ------------------------------------------------------------------

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
        previous = self.activity
        if activity is previous:
            return
        now = self.env.now
        if previous is not None:
            self.time_in[previous] += now - self._since
        energy = self.energy
        energy.switch(previous, activity, now)
        self._since = now
        self.changes += 1
        self.activity = activity
        self.publish(StateChanged(now, self.id, activity, energy.power_kw, energy.energy_kwh))
        self._observe(self.id, self._live_delay, activity, now)
        for part in self.parts:
            part.on_activity(activity, now)
        energy.arm_standby(activity, self.changes)

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
