"""Customer orders: how they arrive, and what a lot carries through the routing.

An order asks for `quantity` parts of one product variant by a due date. It travels the
routing as one lot (lot sizes go down to one); parts scrapped on the way leave the lot.
"""

from __future__ import annotations

from dataclasses import dataclass

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

    @property
    def variant(self) -> str:
        return self.product.name

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
