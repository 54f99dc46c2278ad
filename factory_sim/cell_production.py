"""Making one lot, part by part: cycle-time variation, scrap and rework, short stops.

Each part takes the planned cycle time, slowed by the cell's `speed_loss` and varied
lognormally (`cycle_variation`); a failure may strike during it (`factory_sim.breakdowns`).
A finished part is good, scrap (it leaves the lot) or rework (made once more, at once); a
wrong job parameter from a hand-carried program makes the first part scrap. Between parts
come the press brake's tool wear, short stops and the cobot's protective stops, and the
cell's life may pause the lot (stop, job order hold, break, planned maintenance).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from factory_sim.breakdowns import lognormal
from factory_sim.events import JobStarted, PartFinished, PartOutcome
from factory_sim.job import Job
from factory_sim.shift_calendar import PeriodKind
from factory_sim.states import Activity

if TYPE_CHECKING:
    from factory_sim.cell import Cell
    from factory_sim.orders import Order


class LotProduction:
    def __init__(self, cell: Cell):
        self._cell = cell
        streams, spec = cell.streams, cell.spec
        # Cycle-time variation is drawn a batch at a time: one draw per part is the model's
        # most frequent random number, and numpy draws thousands for the cost of a few.
        self._rng_cycle = np.random.default_rng(streams.get("cycle", cell.id).getrandbits(64))
        self._factors: list[float] = []
        self._factor_index = 0
        self._rng_quality = streams.get("quality", cell.id)
        self._rng_stops = streams.get("short-stops", cell.id)
        self._mu, self._sigma = lognormal(1.0, spec.cycle_variation)
        self._slow = 1.0 + spec.speed_loss

    def make(self, order: Order, wrong_first: bool):
        # The per-part path runs hundreds of thousands of times a simulated year, so the
        # common case stays inline and on local names; rare turns (failures, stops,
        # maintenance) are generators.
        cell = self._cell
        env = cell.env
        working_time = cell.ctx.working_time
        publish = cell.publish
        spec = cell.spec
        commands = cell.commands
        cell_id, order_id, variant = cell.id, order.id, order.product.name
        planned = remaining = order.alive
        job = cell.job = Job(order_id, variant, planned)
        publish(JobStarted(env.now, cell_id, order_id, variant, planned))
        cycle = cell.ctx.planned_cycle_time(cell_id, variant)
        base = cycle * self._slow
        sigma = self._sigma
        factors, index = self._factors, self._factor_index
        quality = self._rng_quality.random
        scrap = spec.scrap
        scrap_or_rework = scrap + spec.rework
        stop_chance = spec.short_stops.probability
        stop_draw = self._rng_stops.random
        safety = cell.safety
        protective_chance = safety.chance_per_part(cycle) if safety is not None else 0.0
        tooling = cell.tooling
        bends = order.product.bends
        breakdowns = cell.breakdowns
        predictive = breakdowns.predictive
        work = PeriodKind.WORK
        producing = Activity.PRODUCING
        good, scrapped, rework = PartOutcome.GOOD, PartOutcome.SCRAP, PartOutcome.REWORK
        while remaining:
            if (commands.stop_requested or commands.job_command is not None
                    or working_time.period_kind is not work):
                yield from cell.ready()
                if commands.job_command == "end":
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
            if cell.activity is not producing:
                cell.set_activity(producing)
            if duration < breakdowns.ttf:
                yield env.timeout(duration)
                breakdowns.ttf -= duration
            else:
                yield from breakdowns.produce(duration)
            cell.cycles += 1
            u = quality()
            if u < scrap or wrong_first:  # a wrong parameter makes the first part scrap
                wrong_first = False
                outcome = scrapped
                cell.scrap += 1
                order.scrapped += 1  # it leaves the lot (remade from the start, or short)
                remaining -= 1
            elif u < scrap_or_rework:
                outcome = rework  # made once more, at once
                cell.rework += 1
            else:
                outcome = good
                cell.good += 1
                job.completed += 1
                remaining -= 1
            publish(PartFinished(env.now, cell_id, order_id, variant, outcome,
                                 job.completed, planned))
            if tooling is not None and tooling.wear(bends) and remaining:
                yield from tooling.replace()
            if stop_chance and stop_draw() < stop_chance:
                cell.set_activity(Activity.SHORT_STOP)
                yield env.timeout(self._rng_stops.expovariate(1.0 / spec.short_stops.mean))
            if protective_chance and safety.rng.random() < protective_chance:
                yield from safety.protective_stop_after_part()
        self._factor_index = index  # the next lot goes on with this cell's batch of draws
