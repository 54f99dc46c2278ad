"""A cell's changeover to another product: sequence-dependent setup and job data by hand.

Setting up takes nothing for the same variant, `setup.same_family` within a product family
and `setup.other_family` otherwise (the press brake's automatic tool changer instead changes
tools on its own, `cell_parts.PressBrakeTooling`). Where the machine is not coupled, the new
job's program and parameters are carried to it by hand (`job_data`): a longer setup and,
sometimes, a first part made with a wrong parameter. A setup with a duration needs a skilled
operator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from factory_sim.job_data import JobDataTransfer
from factory_sim.states import Activity

if TYPE_CHECKING:
    from factory_sim.cell import Cell
    from factory_sim.coupling import Coupling
    from factory_sim.orders import Order
    from factory_sim.scenario import ProductSpec


class Changeover:
    """What the cell is set up for (`family`, `variant`) and how it changes to another."""

    def __init__(self, cell: Cell, online: Coupling, offline: Coupling):
        self._cell = cell
        self._rng_job_data = cell.streams.get("job-data", cell.id)
        job_data = cell.ctx.job_data
        self.job_data = JobDataTransfer(job_data, online.job_data_by_hand)
        self._job_data_offline = JobDataTransfer(job_data, offline.job_data_by_hand)
        self.family: str | None = None
        self.variant: str | None = None

    def needed(self, lot: Order) -> int:
        """0 none (same variant), 1 a short one (same family or tool), 2 a full one."""
        product = lot.product
        if product.name == self.variant:
            return 0
        tooling = self._cell.tooling
        if tooling is not None:
            return 1 if product.tool == tooling.tool else 2
        return 1 if product.family == self.family else 2

    def set_up(self, product: ProductSpec):
        """Set up for the product; True if its first part will be made with a wrong parameter."""
        cell = self._cell
        new_job = self.variant != product.name
        if cell.tooling is not None:
            yield from cell.tooling.set_up(product)
            duration = 0.0  # the automatic tool changer needs no operator
        elif not new_job:
            duration = 0.0
        elif self.family == product.family:
            duration = cell.spec.setup.same_family
        else:
            duration = cell.spec.setup.other_family
        wrong_first = False
        if new_job:
            # Drawn at every change of job, whatever the level (common random numbers).
            draw = self._rng_job_data.random
            network = cell.ctx.network
            transfer = (self.job_data if network is None or network.up
                        else self._job_data_offline)
            wrong_first = transfer.first_part_wrong(draw())
            duration += transfer.extra_setup(draw(), draw())
        if duration > 0:
            operator = yield from cell.operator()
            cell.set_activity(Activity.SETUP)
            yield cell.env.timeout(duration)
            cell.release_operator(operator)
        self.family = product.family
        self.variant = product.name
        return wrong_first
