"""Dispatching: which lot goes next, decided on what the plant knows.

A cell's input buffer is a `DispatchQueue`: the cell takes the lot its rule picks. The rule
follows the cell's switches (`factory_sim.mechanisms`), held by a `Dispatcher`:

- `dispatch`: `fifo` works the queue first in, first out; `paper` takes the earliest due
  date written on the paper that travels with each lot; `live` does too, and a lot whose
  next cell the plant believes down waits while another can go (re-sequencing around a
  machine that is down: cross-cell knowledge);
- `sequencing` (`local` or `plant`): among the lots due within `sequencing_slack` of the one
  the dispatch rule picked, take the one needing the least setup on this machine, which
  its operator knows.

The planner's release uses the same rule on its pool of arrived orders, for the first cell;
setup-aware only with plant-wide sequencing (it needs the first cell's live set-up).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING

import simpy

if TYPE_CHECKING:
    from factory_sim.network import Network
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

    `setup(lot)` is the setup the lot needs on the cell, 0 none .. 2 a full one;
    `believed_down` the names of the cells the plant believes down (a set the information
    flow keeps up to date); `upcoming(lot)` the cells the lot visits next."""

    def __init__(self, dispatch: str, sequencing: str, slack: float,
                 setup: Callable[[Order], int] | None, believed_down: AbstractSet[str],
                 upcoming: Callable[[Order], Sequence[str]], network: Network | None = None,
                 offline: tuple[str, str] | None = None):
        self.dispatch = dispatch
        self.network = network
        self.sequences = sequencing != "none" and setup is not None
        # (dispatch, sequencing) while the network is down (`Mechanisms.offline`)
        self._offline = (offline[0], offline[1] != "none" and setup is not None) if (
            offline is not None) else (dispatch, self.sequences)
        self.slack = slack
        self.setup = setup
        self.believed_down = believed_down
        self.upcoming = upcoming

    def pick(self, lots: Sequence[Order]) -> int:
        if self.network is None or self.network.up:
            dispatch, sequences = self.dispatch, self.sequences
        else:
            dispatch, sequences = self._offline  # the network is down: the paper route
        candidates = range(len(lots))
        if dispatch == "live":
            down = self.believed_down
            if down:
                upcoming = self.upcoming
                clear = [i for i in candidates if down.isdisjoint(upcoming(lots[i]))]
                candidates = clear or candidates
        first = 0 if dispatch == "fifo" else min(candidates, key=lambda i: lots[i].due)
        if not sequences:
            return first
        limit = lots[first].due + self.slack
        setup = self.setup
        return min((i for i in candidates if lots[i].due <= limit),
                   key=lambda i: (setup(lots[i]), lots[i].due))
