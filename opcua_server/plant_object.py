"""Objects/Plant: where the plant sits in the enterprise (ISA-95) and its plant-level KPIs."""

from __future__ import annotations

from asyncua import ua

from opcua_server.namespaces import Namespaces
from opcua_server.node_batch import HAS_COMPONENT, HAS_PROPERTY, ORGANIZES, NodeBatch
from opcua_server.state_machines import child
from opcua_server.writes import Writes

KPI_NAMES = ("OEE", "Availability", "Performance", "Quality")


class PlantObject:
    def __init__(self, ns: Namespaces, hierarchy) -> None:
        self.ns, self.hierarchy = ns, hierarchy
        self.node = ua.NodeId("Plant", ns.plant)

    def build(self, batch: NodeBatch) -> None:
        p = self.ns.plant
        batch.object(self.node, ua.QualifiedName("Plant", p), ua.NodeId(ua.ObjectIds.ObjectsFolder),
                     ua.NodeId(ua.ObjectIds.BaseObjectType), reference=ORGANIZES)
        for name in ("Enterprise", "Site", "Area"):
            batch.variable(child(self.node, name), ua.QualifiedName(name, p), self.node,
                           ua.Variant(str(getattr(self.hierarchy, name.lower())),
                                      ua.VariantType.String),
                           ua.NodeId(ua.ObjectIds.String), reference=HAS_PROPERTY)
        kpi = batch.object(child(self.node, "Kpi"), ua.QualifiedName("Kpi", p), self.node,
                           ua.NodeId(ua.ObjectIds.BaseObjectType))
        self.kpis = {}
        for name in (*KPI_NAMES, "GoodParts", "Energy"):
            vtype = ua.VariantType.UInt32 if name == "GoodParts" else ua.VariantType.Double
            self.kpis[name] = batch.variable(child(kpi, name), ua.QualifiedName(name, p), kpi,
                                             ua.Variant(None), ua.NodeId(vtype.value),
                                             reference=HAS_COMPONENT)

    def write_kpis(self, plant_kpis, writes: Writes, now: float) -> None:
        """Plant-level KPIs (a factory_sim.kpi.PlantKpis; None values stay unset)."""
        for name, value in (("OEE", plant_kpis.oee), ("Availability", plant_kpis.availability),
                            ("Performance", plant_kpis.performance),
                            ("Quality", plant_kpis.quality), ("Energy", plant_kpis.energy_kwh)):
            if value is not None:
                writes.value(self.kpis[name], ua.Variant(float(value), ua.VariantType.Double), now)
        writes.value(self.kpis["GoodParts"],
                     ua.Variant(int(plant_kpis.good_parts), ua.VariantType.UInt32), now)
