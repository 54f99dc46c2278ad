"""A production line: its cells and buffers, its orders, operators, repair crew and planner.

The line wires its parts together: each cell gets a `CellContext`, the planner a dispatcher
for the first cell, and the line decides where a finished lot goes next.
"""

from __future__ import annotations

from collections.abc import Callable

import simpy

from factory_sim.cell import Cell
from factory_sim.cell_context import CellContext
from factory_sim.coupling import Coupling
from factory_sim.dispatch import Dispatcher
from factory_sim.events import Event, OrderCompleted
from factory_sim.information import InformationFlow
from factory_sim.mechanisms import cell_mechanisms
from factory_sim.network import Network
from factory_sim.orders import Order, OrderStream
from factory_sim.people import OperatorPool, RepairCrew
from factory_sim.planner import Planner
from factory_sim.random_streams import RandomStreams
from factory_sim.scenario import Scenario
from factory_sim.working_time import WorkingTime


class Line:
    def __init__(self, env: simpy.Environment, publish: Callable[[Event], None],
                 scenario: Scenario, streams: RandomStreams, working_time: WorkingTime,
                 planned_cycle_time: Callable[[str, str], float], name: str, prefix: str,
                 external_dispatch: bool = False):
        self.env = env
        self._publish = publish
        self.name = name
        self._ids = {spec.name: f"{prefix}{spec.name}" for spec in scenario.cells}
        self.information = InformationFlow(env, publish, scenario.information, streams, name,
                                           {cell_id: n for n, cell_id in self._ids.items()})
        self.operators = OperatorPool(env, {op.name: op.skills for op in scenario.operators})
        self.crew = RepairCrew(env, capacity=scenario.maintenance.technicians)
        couplings = {}
        for spec in scenario.cells:
            level = scenario.level_of(spec)
            mechanisms = cell_mechanisms(level, spec.mapped, scenario.mechanisms,
                                         spec.mechanisms)
            couplings[spec.name] = Coupling.of(level, mechanisms, scenario.information,
                                               scenario.job_data, scenario.standby)
        # A line none of whose cells needs the network has none to lose.
        self.network = Network(env, scenario.network, streams.get("network", name), publish,
                               name, connected=any(c.offline is not None
                                                   for c in couplings.values()))
        self.information.network = self.network
        self.network.listeners.append(self.information.network_changed)
        context = CellContext(
            env=env, publish=publish, streams=streams, products=scenario.products,
            maintenance=scenario.maintenance, job_data=scenario.job_data,
            dispatch=scenario.dispatch, standby=scenario.standby,
            working_time=working_time, operators=self.operators, crew=self.crew,
            planned_cycle_time=planned_cycle_time,
            observe=self.information.state_changed,
            believed_down=self.information.believed_down,
            hand_on=self._hand_on,
            network=self.network,
        )
        self.cells: list[Cell] = []
        self.cells_by_name: dict[str, Cell] = {}
        for spec in scenario.cells:
            cell = Cell(context, spec, self._ids[spec.name], couplings[spec.name])
            self.cells.append(cell)
            self.cells_by_name[spec.name] = cell
        self.planner = Planner(env, publish, scenario.orders.release, self._release_rule(scenario),
                               self._send_to_floor)
        self.planner.holds = external_dispatch  # clients release orders, by job orders
        products = {p.name: p for p in scenario.products}
        self._orders = OrderStream(scenario.orders, products,
                                   streams.get("orders", name), prefix=f"{prefix}O",
                                   calendar=working_time.calendar)
        self.completed: list[Order] = []
        self._remake = scenario.orders.scrap == "remake"
        self._on_floor_at_start = 0 if external_dispatch else scenario.orders.on_floor_at_start
        env.process(self._arrivals(self._orders.backlog(streams.get("backlog", name)),
                                   streams.get("backlog-wip", name)))

    def _release_rule(self, scenario: Scenario) -> Dispatcher:
        """Release: earliest due first from the order book (office data at every level),
        around cells the planner believes down; setup-aware where sequencing is plant-wide
        (the planner sees the first cell's live set-up)."""
        firsts = {p.routing[0] for p in scenario.products}
        first = self.cells_by_name[next(iter(firsts))] if len(firsts) == 1 else None
        return Dispatcher(
            dispatch="live", sequencing="local" if first is not None
            and first.coupling.job_orders else "none",
            slack=scenario.dispatch.sequencing_slack,
            setup=first.changeover.needed if first is not None else None,
            believed_down=self.information.believed_down,
            upcoming=lambda order: order.product.routing, network=self.network,
            # Network down: around the cells the planner believes down (as of what reached
            # it), without the first cell's live set-up.
            offline=("live", "none"))

    def _arrivals(self, backlog: list[Order], rng):
        env = self.env
        yield env.timeout(0)  # after the planner and the cells are waiting
        on_floor = set()
        for order in sorted(backlog, key=lambda o: o.due)[:self._on_floor_at_start]:
            routing = order.product.routing
            step = rng.randrange(len(routing))
            while step >= 0 and not self._has_room(routing[step]):
                step -= 1
            if step >= 0:
                order.step = step
                self.planner.place_on_floor(order)
                self.cells_by_name[routing[step]].input.put(order)
                on_floor.add(order.id)
        for order in backlog:
            if order.id not in on_floor:
                self.planner.order_arrived(order)
        while True:
            wait, order = self._orders.next(env.now)
            yield env.timeout(wait)
            self.planner.order_arrived(order)

    def _has_room(self, cell_name: str) -> bool:
        buffer = self.cells_by_name[cell_name].input
        return len(buffer.items) < buffer.capacity

    def _send_to_floor(self, order: Order) -> simpy.Event:
        return self.cells_by_name[order.product.routing[0]].input.put(order)

    def _hand_on(self, order: Order) -> simpy.Event | None:
        """A cell finished its step of the order: on to the next cell, or out of the line.
        Where scrap is remade, what the lot lost at the cell goes back to the first cell."""
        routing = order.product.routing
        if self._remake:
            remake = order.remake_lot(self.env.now)
            if remake is not None:
                # Its own process: the cell that scrapped never waits for room upstream.
                self.env.process(self._send_back(remake))
        if order.alive and order.step < len(routing):
            return self.cells_by_name[routing[order.step]].input.put(order)
        root = order.root or order
        if order is root:
            order.routing_done = True
        else:
            root.remakes.remove(order)
        if root.routing_done and not root.remakes:
            # A remade order ships in full: every part it lost was made again.
            self._complete(root, short=0 if self._remake else root.scrapped)
        return None

    def _send_back(self, remake: Order):
        yield self._send_to_floor(remake)

    def complete(self, order: Order) -> None:
        """An order a client dispatched finished its routing (`factory_sim.external_dispatch`)."""
        self._complete(order, short=order.scrapped)

    def _complete(self, order: Order, short: int) -> None:
        """The last cell of the routing finished the order (or scrap emptied its lot), with
        `short` parts fewer than ordered."""
        now = self.env.now
        order.completed_at = now
        self.planner.order_completed(order)
        self.completed.append(order)
        self._publish(OrderCompleted(
            now, order.id, order.variant, order.quantity - short, short,
            order.arrived, order.released, order.due, order.remade))
