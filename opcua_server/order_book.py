"""Objects/Plant/Orders: the plant's order book, read-only, for a MES that dispatches it.

Served when the plant's cells run only what clients send (`Plant(external_dispatch=True)`,
`factory-sim serve --jobs external`). Parallel arrays, one entry per order arrived and not
completed, the waiting ones first by due date: OrderIds, Variants, Quantities, DueDates,
Routings (the cells in turn, comma-separated), Released. Refreshed with the KPIs (every
second of wall time, and after every step while paused).
"""

from __future__ import annotations

from asyncua import ua

from opcua_server.node_batch import HAS_COMPONENT, NodeBatch
from opcua_server.state_machines import child
from opcua_server.writes import Writes

MAX_ORDERS = 1000  # entries served (the waiting orders first); a MES needs the next few

_ARRAYS = (("OrderIds", ua.VariantType.String), ("Variants", ua.VariantType.String),
           ("Quantities", ua.VariantType.UInt32), ("DueDates", ua.VariantType.DateTime),
           ("Routings", ua.VariantType.String), ("Released", ua.VariantType.Boolean))


class OrderBook:
    def __init__(self, plant, plant_node: ua.NodeId) -> None:
        self.plant, self._plant_node = plant, plant_node
        self.node = child(plant_node, "Orders")

    def build(self, batch: NodeBatch) -> None:
        ns = self.node.NamespaceIndex
        batch.object(self.node, ua.QualifiedName("Orders", ns), self._plant_node,
                     ua.NodeId(ua.ObjectIds.BaseObjectType))
        self.arrays = {}
        for name, vtype in _ARRAYS:
            self.arrays[name] = batch.variable(
                child(self.node, name), ua.QualifiedName(name, ns), self.node,
                ua.Variant([], vtype, is_array=True), ua.NodeId(vtype.value),
                reference=HAS_COMPONENT, value_rank=1)

    def publish(self, writes: Writes, now: float) -> None:
        orders = self.plant.order_book()[:MAX_ORDERS]
        values = {
            "OrderIds": [o.id for o in orders],
            "Variants": [o.variant for o in orders],
            "Quantities": [o.quantity for o in orders],
            "DueDates": [writes.source_time(o.due) for o in orders],
            "Routings": [",".join(o.product.routing) for o in orders],
            "Released": [o.released is not None for o in orders],
        }
        for name, vtype in _ARRAYS:
            writes.value(self.arrays[name], ua.Variant(values[name], vtype, is_array=True), now)
