"""Dispatching: which lot goes next, decided on what the plant knows.

A cell's input buffer is a `DispatchQueue`: the cell takes the lot its rule picks. The rule
depends on the knowledge the cell's coupling gives (`Dispatcher`):

- an uncoupled cell works its queue first in, first out: the paper list travels with the
  lots and nobody sees further;
- a live cell is dispatched earliest due date first (late orders are expedited), and a lot
  whose next cell the plant believes down waits while another can go (re-sequencing
  around a machine that is down);
- a cell that receives job orders (unified) also knows its own setup: among the lots due
  within `sequencing_slack` of the most urgent one it takes the one needing the least setup.

The planner's release uses the same rule on its pool of arrived orders, for the first cell.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING

import simpy

if TYPE_CHECKING:
    from factory_sim.orders import Order



class DispatchQueue(simpy.Store):
    """A finite input buffer (in lots) that hands out the lot its `pick` chooses."""

    def __init__(self, env: simpy.Environment, capacity: int,
                 pick: Callable[[list[Order]], int] | None = None):
        super().__init__(env, capacity)
        self.pick = pick
        self.on_stored: Callable[[Order], None] | None = None  # a lot entered the buffer

    def _do_put(self, event):
        super()._do_put(event)
        if event.triggered and self.on_stored is not None:
            self.on_stored(event.item)

    def _do_get(self, event):
        items = self.items
        if items:
            pick = self.pick
            event.succeed(items.pop(pick(items) if pick is not None and len(items) > 1 else 0))
        return None


class Dispatcher:
    """Chooses among lots waiting for one cell (or for release onto the floor).

    `setup(lot)` is the setup the lot needs on the cell, 0 none .. 2 a full one (known only
    with job orders); `believed_down` the names of the cells the plant believes down (a set
    the information flow keeps up to date); `upcoming(lot)` the cells the lot visits next."""

    def __init__(self, live: bool, job_orders: bool, slack: float,
                 setup: Callable[[Order], int] | None, believed_down: AbstractSet[str],
                 upcoming: Callable[[Order], Sequence[str]]):
        self.live = live
        self.job_orders = job_orders and setup is not None
        self.slack = slack
        self.setup = setup
        self.believed_down = believed_down
        self.upcoming = upcoming

    def pick(self, lots: Sequence[Order]) -> int:
        if not self.live:
            return 0
        candidates = range(len(lots))
        down = self.believed_down
        if down:
            upcoming = self.upcoming
            clear = [i for i in candidates if down.isdisjoint(upcoming(lots[i]))]
            candidates = clear or candidates
        urgent = min(candidates, key=lambda i: lots[i].due)
        if not self.job_orders:
            return urgent
        limit = lots[urgent].due + self.slack
        setup = self.setup
        return min((i for i in candidates if lots[i].due <= limit),
                   key=lambda i: (setup(lots[i]), lots[i].due))
