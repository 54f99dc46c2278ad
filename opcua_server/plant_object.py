"""Objects/Plant: where the plant sits in the enterprise (ISA-95), its plant-level KPIs and its
current shift.

`Plant/CurrentShift` (StartTime, EndTime: UtcTime) names the shift of the plant's shift
calendar that started last, written when it starts (source time: its start). A client that
wants the calendar (the UMH output's `shift/add`) reads it there instead of guessing it from
machine states: plain variables of the base types, the smallest addition that says it.
"""

from __future__ import annotations

import math

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
        shift = batch.object(child(self.node, "CurrentShift"), ua.QualifiedName("CurrentShift", p),
                             self.node, ua.NodeId(ua.ObjectIds.BaseObjectType))
        self.shift = {name: batch.variable(child(shift, name), ua.QualifiedName(name, p), shift,
                                           ua.Variant(None), ua.NodeId(ua.ObjectIds.UtcTime),
                                           reference=HAS_COMPONENT)
                      for name in ("StartTime", "EndTime")}
        self._shifts = None  # the calendar's shifts, (start, end) in order, as they come
        self._next_shift: tuple[float, float] | None = None
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

    def write_shift(self, calendar, writes: Writes, now: float) -> None:
        """Every shift whose start `now` has reached, in order (called every tick)."""
        if self._shifts is None:
            self._shifts = iter(sorted_shifts(calendar))
            # a calendar without shifts or workdays has none to give (and would not end)
            self._next_shift = (next(self._shifts) if calendar.shifts and calendar.workdays
                                else (math.inf, math.inf))
        while self._next_shift[0] <= now:
            (start, end), self._next_shift = self._next_shift, next(self._shifts)
            for name, at in (("StartTime", start), ("EndTime", end)):
                writes.value(self.shift[name], ua.Variant(writes.source_time(at),
                                                          ua.VariantType.DateTime), start)


def sorted_shifts(calendar):
    """(start, end) of the calendar's shifts in the order they start (its own generator
    yields them in the order they end: the same here, as shifts of a day do not overlap)."""
    last_start = -1.0
    for start, end in calendar.shifts_ending():
        if start > last_start:
            last_start = start
            yield start, end
