"""A production line: its cells and buffers, its orders, operators, repair crew and planner."""

from __future__ import annotations

from typing import TYPE_CHECKING

from factory_sim.cell import Cell
from factory_sim.events import OrderCompleted
from factory_sim.information import InformationFlow
from factory_sim.orders import Order, OrderStream
from factory_sim.people import OperatorPool, RepairCrew
from factory_sim.planner import Planner
from factory_sim.states import ConnectivityLevel

if TYPE_CHECKING:
    from factory_sim.plant import Plant


class Line:
    def __init__(self, plant: Plant, name: str, prefix: str):
        scenario = plant.scenario
        self.plant = plant
        self.name = name
        self.information = InformationFlow(plant, name)
        self.operators = OperatorPool(plant.env, {op.name: op.skills for op in scenario.operators})
        self.crew = RepairCrew(plant.env, capacity=scenario.maintenance.technicians)
        self.cells: list[Cell] = []
        self.cells_by_name: dict[str, Cell] = {}
        for spec in scenario.cells:
            cell = Cell(self, spec, f"{prefix}{spec.name}", scenario.level_of(spec))
            self.cells.append(cell)
            self.cells_by_name[spec.name] = cell
        self.planner = Planner(
            self, setup_aware=all(c.level >= ConnectivityLevel.UNIFIED for c in self.cells))
        products = {p.name: p for p in scenario.products}
        self._orders = OrderStream(scenario.orders, products,
                                   plant.streams.get("orders", name), prefix=f"{prefix}O")
        self.completed: list[Order] = []
        plant.env.process(self._arrivals())

    def _arrivals(self):
        env = self.plant.env
        while True:
            wait, order = self._orders.next(env.now)
            yield env.timeout(wait)
            self.planner.order_arrived(order)

    def complete(self, order: Order, cell: Cell) -> None:
        """The last cell of the routing finished the order (or scrap emptied its lot)."""
        now = self.plant.env.now
        order.completed_at = now
        del self.planner.on_floor[order.id]
        self.completed.append(order)
        self.plant.bus.publish(OrderCompleted(
            now, order.id, order.variant, order.alive, order.scrapped,
            order.arrived, order.released, order.due))
        self.information.tell_planner(cell, self.planner.learned_completion)
