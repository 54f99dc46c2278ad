"""External dispatch: the plant's cells run only the job orders clients send (a MES).

With `Plant(..., external_dispatch=True)` the planner releases nothing: orders arrive in the
order book as always, and a client (the reference `factory-sim mes`, an integrator's MES, a
student) dispatches each operation of a lot as a job order to its cell. The job order of an
order's operation is named `<order id>/<cell name>` (as the office names its own); starting
the one for the first cell of the routing releases the order (it leaves the order book and
is on the floor), and the one for the last cell ending completes it, with the good parts of
that job order delivered and the rest counted as scrap.

A job order for a cell with any other name runs as well; it just belongs to no order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from factory_sim.events import Event, JobOrderChanged
from factory_sim.states import JobOrderState

if TYPE_CHECKING:
    from factory_sim.line import Line
    from factory_sim.orders import Order


class ExternalDispatch:
    """Ties clients' job orders to the order book (subscribe it to the plant's events)."""

    def __init__(self, lines: list[Line]) -> None:
        self._lines = lines

    def __call__(self, event: Event) -> None:
        if type(event) is not JobOrderChanged or "/" not in event.job_order_id:
            return
        order_id, cell_name = event.job_order_id.rsplit("/", 1)
        for line in self._lines:
            cell = line.cells_by_name.get(cell_name)
            if cell is None or cell.id != event.cell:
                continue
            if event.state is JobOrderState.ALLOWED_TO_START:
                self._release(line, order_id, cell_name)
            elif event.state.finished and event.previous is not None \
                    and not event.previous.finished:
                self._complete(line, order_id, cell_name, event)

    @staticmethod
    def _release(line: Line, order_id: str, cell_name: str) -> None:
        planner = line.planner
        order = next((o for o in planner.pool if o.id == order_id), None)
        if order is None or order.product.routing[0] != cell_name:
            return
        planner.pool.remove(order)
        planner.place_on_floor(order)

    @staticmethod
    def _complete(line: Line, order_id: str, cell_name: str, event: JobOrderChanged) -> None:
        order: Order | None = line.planner.on_floor.get(order_id)
        if order is None or order.product.routing[-1] != cell_name:
            return
        order.scrapped = max(0, order.quantity - event.good)
        order.step = len(order.product.routing)
        line.complete(order)
