"""Customer orders: how they arrive, and what a lot carries through the routing.

An order asks for `quantity` parts of one product variant by a due date. It travels the
routing as one lot (lot sizes go down to one); parts scrapped on the way leave the lot. Where
scrap is remade (`orders.scrap: remake`), the parts a lot lost at a cell go back to the start
of the routing as a remake lot of the same order (`remake_lot`), which needs every cell's
setup again; the order ships when its last remake lot is through.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from factory_sim.scenario import OrdersSpec, ProductSpec
from factory_sim.shift_calendar import ShiftCalendar


@dataclass(eq=False)
class Order:
    id: str
    product: ProductSpec
    quantity: int
    arrived: float
    due: float
    released: float | None = None
    scrapped: int = 0
    step: int = 0  # index into the product's routing
    completed_at: float | None = None
    # Remade scrap: the order a remake lot belongs to (None: the order's own lot), the
    # remake lots under way, how many parts were scrapped and made again, whether the
    # order's own lot is through its routing, and how many of this lot's scrapped parts
    # were sent back already.
    root: Order | None = None
    remakes: list[Order] = field(default_factory=list)
    remade: int = 0
    routing_done: bool = False
    sent_back: int = 0

    @property
    def variant(self) -> str:
        return self.product.name

    def remake_lot(self, now: float) -> Order | None:
        """The parts this lot lost since the last call, as a lot of the same order that
        starts the routing again (None if it lost none)."""
        lost = self.scrapped - self.sent_back
        if lost <= 0:
            return None
        self.sent_back = self.scrapped
        root = self.root or self
        root.remade += lost
        lot = Order(id=f"{root.id}-R{root.remade}", product=self.product, quantity=lost,
                    arrived=root.arrived, due=root.due, released=now, root=root)
        root.remakes.append(lot)
        return lot

    @property
    def alive(self) -> int:
        return self.quantity - self.scrapped


class OrderStream:
    """Draws the order sequence of one line from its own random stream.

    The draws depend on nothing but the stream, so every connectivity level of a scenario
    sees the same orders at the same times.
    """

    def __init__(self, spec: OrdersSpec, products: dict[str, ProductSpec], rng, prefix: str,
                 calendar: ShiftCalendar | None = None):
        self._spec = spec
        # Due dates in working time need the shift calendar; in calendar time they do not.
        self._calendar = calendar if spec.due_in == "working_time" else None
        self._rng = rng
        self._prefix = prefix
        self._products = [products[name] for name in spec.mix]
        self._product_weights = list(spec.mix.values())
        self._sizes = list(spec.lot_sizes)
        self._size_weights = list(spec.lot_sizes.values())
        self._count = 0

    def backlog(self, rng) -> list[Order]:
        """The orders that arrived in the `backlog` seconds before the start, oldest first,
        drawn from their own stream `rng` (the later orders stay the same)."""
        orders = []
        arrived = -rng.expovariate(1.0 / self._spec.interarrival)
        while arrived >= -self._spec.backlog:
            orders.append(self._order(rng, arrived, f"{self._prefix}B"))
            arrived -= rng.expovariate(1.0 / self._spec.interarrival)
        return orders[::-1]

    def next(self, now: float) -> tuple[float, Order]:
        """The wait until the next arrival, and the order that arrives then."""
        rng = self._rng
        wait = rng.expovariate(1.0 / self._spec.interarrival)
        return wait, self._order(rng, now + wait, self._prefix)

    def _order(self, rng, arrived: float, prefix: str) -> Order:
        product = rng.choices(self._products, self._product_weights)[0]
        size = rng.choices(self._sizes, self._size_weights)[0]
        spec = self._spec
        due = spec.due if spec.due_latest is None else rng.uniform(spec.due, spec.due_latest)
        self._count += 1
        return Order(
            id=f"{prefix}{self._count:05d}",
            product=product,
            quantity=size,
            arrived=arrived,
            due=self._due(arrived, due),
        )

    def _due(self, arrived: float, quoted: float) -> float:
        if self._calendar is None:
            return arrived + quoted
        # An order that arrived before the start (the weekend's) is quoted from the start.
        return self._calendar.add_working_time(max(arrived, 0.0), quoted)
