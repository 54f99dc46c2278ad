"""The planner: decides which arrived order goes onto the floor, and when.

It acts on what it *believes*: orders it released minus the completions it has heard of.
With CONWIP release that belief caps the work on the floor; when completions are known only
from the shift report, the cap holds back work the floor could already take (stale data).
Orders go out earliest due date first; a unified plant, where the planner sees the cells'
live setups, prefers orders that fit the first cell's current setup family, as long as
that does not delay an order due earlier by more than the sequencing slack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import simpy

from factory_sim.events import OrderReleased
from factory_sim.orders import Order

if TYPE_CHECKING:
    from factory_sim.line import Line

SEQUENCING_SLACK = 8 * 3600.0  # how much earlier-due work setup-aware sequencing may pass


class Planner:
    def __init__(self, line: Line, setup_aware: bool):
        plant = line.plant
        self._env = plant.env
        self._publish = plant.bus.publish
        self._line = line
        self._release = plant.scenario.orders.release
        self.setup_aware = setup_aware
        self.pool: list[Order] = []  # arrived, not yet released
        self.on_floor: dict[str, Order] = {}  # released, not yet completed
        self.released = 0
        self.believed_completed = 0
        self._wake: simpy.Event | None = None
        self.process = self._env.process(self._releasing())

    @property
    def believed_wip(self) -> int:
        return self.released - self.believed_completed

    def order_arrived(self, order: Order) -> None:
        self.pool.append(order)
        self._nudge()

    def learned_completion(self) -> None:
        self.believed_completed += 1
        self._nudge()

    def _nudge(self) -> None:
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def _may_release(self) -> bool:
        if not self.pool:
            return False
        return self._release.rule == "push" or self.believed_wip < self._release.wip_cap

    def _releasing(self):
        env = self._env
        while True:
            if not self._may_release():
                self._wake = env.event()
                yield self._wake
                self._wake = None
                continue
            order = self._choose()
            self.pool.remove(order)
            order.released = env.now
            self.released += 1
            self.on_floor[order.id] = order
            self._publish(OrderReleased(env.now, order.id, order.variant, order.quantity,
                                        order.due))
            first = self._line.cells_by_name[order.product.routing[0]]
            put = first.input.put(order)
            if not put.triggered:
                yield put

    def _choose(self) -> Order:
        earliest = min(self.pool, key=lambda o: o.due)
        if not self.setup_aware:
            return earliest
        first = self._line.cells_by_name[earliest.product.routing[0]]
        fitting = [o for o in self.pool
                   if o.product.family == first.family
                   and o.due <= earliest.due + SEQUENCING_SLACK]
        return min(fitting, key=lambda o: o.due) if fitting else earliest
