"""The planner: decides which arrived order goes onto the floor, and when.

Release is CONWIP: an order goes out only with a free card, and the card comes back with
the finished order at every connectivity level (a physical loop). Which order goes is a
dispatch decision (`factory_sim.dispatch`): earliest due first from the order book (office
data at every level), holding back orders whose routing passes a cell the planner believes
down (a belief as fresh as the cell's connectivity allows); where the first cell receives job
orders (unified) it prefers orders that fit that cell's live setup within the sequencing slack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import simpy

from factory_sim.dispatch import Dispatcher
from factory_sim.events import Event, OrderReleased
from factory_sim.scenario import ReleaseSpec

if TYPE_CHECKING:
    from factory_sim.orders import Order


class Planner:
    def __init__(self, env: simpy.Environment, publish: Callable[[Event], None],
                 release: ReleaseSpec, dispatcher: Dispatcher,
                 send_to_floor: Callable[[Order], simpy.Event]):
        self._env = env
        self._publish = publish
        self._release = release
        self._dispatcher = dispatcher
        self._send_to_floor = send_to_floor
        self.pool: list[Order] = []  # arrived, not yet released
        self.on_floor: dict[str, Order] = {}  # released, not yet completed (holding a card)
        self.released = 0
        self.holds = False  # external dispatch: release nothing (factory_sim.external_dispatch)
        self._wake: simpy.Event | None = None
        self.process = env.process(self._releasing())

    @property
    def free_cards(self) -> int:
        return self._release.wip_cap - len(self.on_floor)

    def place_on_floor(self, order: Order) -> None:
        """An order that is on the floor already when the run starts: it holds a card."""
        order.released = self._env.now
        self.released += 1
        self.on_floor[order.id] = order
        self._publish(OrderReleased(self._env.now, order.id, order.variant, order.quantity,
                                    order.due))

    def order_arrived(self, order: Order) -> None:
        self.pool.append(order)
        self._nudge()

    def order_completed(self, order: Order) -> None:
        """The finished order leaves the floor; its CONWIP card comes back with it."""
        del self.on_floor[order.id]
        self._nudge()

    def _nudge(self) -> None:
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def _may_release(self) -> bool:
        if not self.pool or self.holds:
            return False
        return self._release.rule == "push" or self.free_cards > 0

    def _releasing(self):
        env = self._env
        while True:
            if not self._may_release():
                self._wake = env.event()
                yield self._wake
                self._wake = None
                continue
            order = self.pool.pop(self._dispatcher.pick(self.pool))
            self.place_on_floor(order)
            put = self._send_to_floor(order)
            if not put.triggered:
                yield put
