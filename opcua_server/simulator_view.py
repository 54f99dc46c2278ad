"""Objects/SimulatorView: what really happens in the plant, for trainers, not for the factory.

A disconnected cell is invisible to the factory's systems; that is the lesson of the
stand-alone level. A trainer still wants to show the class what the cell really does, beside
what the factory believes. This object is that window, and it says so: its `Note` property
and its Description mark it as the simulator's own view, not part of the factory's model, so
no consumer mistakes it for plant data (the demo's dashboard labels everything it takes from
here). It is off unless `ServerSettings.simulator_view` is set (`serve --simulator-view`).

    Objects/SimulatorView
      Note                                   "simulator only, not part of the factory: ..."
      Cells/<cell id>                        in routing order (Position 0, 1, ...)
        Position, Kind, Connectivity, BufferCapacity        (properties)
        ItemState, OperationMode, Activity   Machinery names, the model's activity label
        OrderId, GoodParts, ScrapParts, Power (kW), Buffer (lots waiting in front of it)
        ActiveAlarm                          the kind of the newest active alarm, or ""
        OEE, Availability, Performance, Quality   (ISO 22400, true figures)
        ShiftGoodActual, ShiftScrapActual, ShiftDowntimeActual (s)   what really happened in
                                             the shift of the last paper report (cells not live)
      Kpi/ OEE, Availability, Performance, Quality, Throughput (good parts/h),
           LeadTime (mean, h), OnTimeInFull, MTTR (min), WIP (orders), EnergyPerGoodPart (kWh),
           InformationLatency (mean, min: state change -> the planner knows), InformationAccuracy

What the factory itself knows of a cell that is not online is its operators' paper shift
report, typed into the office system after the shift. That is factory knowledge, so it sits
under the plant object, not here:

    Objects/Plant/ShiftReports/<cell id>     (only cells known from paper: stand-alone cells
                                              and vendor cells without an adapter)
      ShiftStart, FiledAt (plant time), GoodReported, ScrapReported, DowntimeReported (s)
"""

from __future__ import annotations

import time

from asyncua import ua

from factory_sim import events as ev
from opcua_server.namespaces import Namespaces
from opcua_server.node_batch import HAS_COMPONENT, HAS_PROPERTY, ORGANIZES, NodeBatch
from opcua_server.nodeids import MACHINERY_ITEM_STATE_NAMES, OPERATION_MODE_NAMES
from opcua_server.state_machines import child
from opcua_server.writes import Writes

NOTE = ("simulator only, not part of the factory: the true state of every cell and the "
        "plant's true KPIs, which the factory's own systems cannot see")
KPI_INTERVAL_S = 1.0  # wall seconds between KPI refreshes, as the server's own
KPI_STEP_S = 900.0  # plant seconds between KPI refreshes at the latest

_STRING, _DOUBLE, _UINT = ua.VariantType.String, ua.VariantType.Double, ua.VariantType.UInt32
CELL_VARIABLES = {"ItemState": _STRING, "OperationMode": _STRING, "Activity": _STRING,
                  "OrderId": _STRING, "GoodParts": _UINT, "ScrapParts": _UINT, "Power": _DOUBLE,
                  "Buffer": _UINT, "ActiveAlarm": _STRING, "OEE": _DOUBLE,
                  "Availability": _DOUBLE, "Performance": _DOUBLE, "Quality": _DOUBLE,
                  "ShiftGoodActual": _UINT, "ShiftScrapActual": _UINT,
                  "ShiftDowntimeActual": _DOUBLE}
INITIAL = {"GoodParts": 0, "ScrapParts": 0, "Buffer": 0, "ActiveAlarm": ""}
PLANT_KPIS = ("OEE", "Availability", "Performance", "Quality", "Throughput", "LeadTime",
              "OnTimeInFull", "MTTR", "WIP", "EnergyPerGoodPart", "InformationLatency",
              "InformationAccuracy")
REPORT_VARIABLES = {"ShiftStart": ua.VariantType.DateTime, "FiledAt": ua.VariantType.DateTime,
                    "GoodReported": _UINT, "ScrapReported": _UINT, "DowntimeReported": _DOUBLE}


def _initial(name: str, vtype: ua.VariantType) -> ua.Variant:
    return ua.Variant(INITIAL[name], vtype) if name in INITIAL else ua.Variant(None)


def _describe(batch: NodeBatch, text: str) -> None:
    attrs = batch.items[-1].NodeAttributes
    attrs.Description = ua.LocalizedText(text)
    attrs.SpecifiedAttributes |= ua.NodeAttributesMask.Description


class SimulatorView:
    """Builds Objects/SimulatorView and Plant/ShiftReports and keeps them in step with the model.

    `kpis` is the server's KpiAccounting (already subscribed to the plant); the view only
    reads reports from it.
    """

    def __init__(self, plant, ns: Namespaces, kpis, writes: Writes) -> None:
        self.plant, self.kpis, self.writes = plant, kpis, writes
        self.node = ua.NodeId("SimulatorView", ns.plant)
        self.reports_node = ua.NodeId("Plant/ShiftReports", ns.plant)
        self.ns = ns.plant
        # Cells in routing order: the plant lists each line's cells in the scenario's order.
        self._cells = [cell for line in plant.lines for cell in line.cells]
        self._by_id = {cell.id: cell for cell in self._cells}
        self._vars: dict[str, dict[str, ua.NodeId]] = {}
        self._reports: dict[str, dict[str, ua.NodeId]] = {}
        self._kpi_vars: dict[str, ua.NodeId] = {}
        self._counts: dict[str, list[int]] = {}
        self._kpi_due = 0.0
        self._kpi_time = 0.0

    def build(self, batch: NodeBatch) -> None:
        p = self.ns
        batch.object(self.node, ua.QualifiedName("SimulatorView", p),
                     ua.NodeId(ua.ObjectIds.ObjectsFolder), ua.NodeId(ua.ObjectIds.BaseObjectType),
                     reference=ORGANIZES)
        _describe(batch, NOTE)
        batch.variable(child(self.node, "Note"), ua.QualifiedName("Note", p), self.node,
                       ua.Variant(NOTE, _STRING), ua.NodeId(ua.ObjectIds.String),
                       reference=HAS_PROPERTY)
        cells = batch.object(child(self.node, "Cells"), ua.QualifiedName("Cells", p), self.node,
                             ua.NodeId(ua.ObjectIds.FolderType))
        for position, cell in enumerate(self._cells):
            info = self.plant.cells[cell.id]
            node = batch.object(ua.NodeId(f"SimulatorView/Cells/{cell.id}", p),
                                ua.QualifiedName(cell.id, p), cells,
                                ua.NodeId(ua.ObjectIds.BaseObjectType))
            level = info.connectivity.name.lower()
            for name, value in (("Position", ua.Variant(position, _UINT)),
                                ("Kind", ua.Variant(info.kind.value, _STRING)),
                                ("Connectivity", ua.Variant(level, _STRING)),
                                ("BufferCapacity", ua.Variant(cell.input.capacity, _UINT))):
                batch.variable(child(node, name), ua.QualifiedName(name, p), node, value,
                               ua.NodeId(value.VariantType.value), reference=HAS_PROPERTY)
            self._vars[cell.id] = {
                name: batch.variable(child(node, name), ua.QualifiedName(name, p), node,
                                     _initial(name, vtype), ua.NodeId(vtype.value))
                for name, vtype in CELL_VARIABLES.items()}
            self._counts[cell.id] = [0, 0]
        kpi = batch.object(child(self.node, "Kpi"), ua.QualifiedName("Kpi", p), self.node,
                           ua.NodeId(ua.ObjectIds.BaseObjectType))
        self._kpi_vars = {name: batch.variable(child(kpi, name), ua.QualifiedName(name, p), kpi,
                                               ua.Variant(None), ua.NodeId(ua.ObjectIds.Double),
                                               reference=HAS_COMPONENT)
                          for name in PLANT_KPIS}
        # the cells the planner knows only from paper (stand-alone, unmapped vendor interfaces)
        offline = [c for c in self._cells if not c.coupling.live]
        if offline:
            reports = batch.object(self.reports_node, ua.QualifiedName("ShiftReports", p),
                                   ua.NodeId("Plant", p), ua.NodeId(ua.ObjectIds.FolderType))
            _describe(batch, "the operators' paper shift reports of the cells that are not "
                      "online, as typed into the office system after each shift")
            for cell in offline:
                node = batch.object(child(reports, cell.id), ua.QualifiedName(cell.id, p),
                                    reports, ua.NodeId(ua.ObjectIds.BaseObjectType))
                self._reports[cell.id] = {
                    name: batch.variable(child(node, name), ua.QualifiedName(name, p), node,
                                         ua.Variant(None), ua.NodeId(vtype.value))
                    for name, vtype in REPORT_VARIABLES.items()}
        self.plant.subscribe(self._on_event)

    # ---- model events -> writes ----
    def _on_event(self, event: ev.Event) -> None:
        cell = getattr(event, "cell", None)
        variables = self._vars.get(cell)
        if variables is not None:
            self._apply(event, cell, variables)
        # Refresh once a wall second, and every KPI_STEP_S of plant time within a long Step
        # (which runs in well under a second).
        if time.monotonic() >= self._kpi_due or event.time >= self._kpi_time + KPI_STEP_S:
            self._kpi_due = time.monotonic() + KPI_INTERVAL_S
            self._kpi_time = event.time
            self._write_kpis(event.time)

    def _apply(self, event: ev.Event, cell: str, variables: dict[str, ua.NodeId]) -> None:
        value, now = self.writes.value, event.time
        if isinstance(event, ev.StateChanged):
            activity = event.activity
            value(variables["ItemState"],
                  ua.Variant(MACHINERY_ITEM_STATE_NAMES[activity.item_state], _STRING), now)
            value(variables["OperationMode"],
                  ua.Variant(OPERATION_MODE_NAMES[activity.operation_mode], _STRING), now)
            value(variables["Activity"], ua.Variant(activity.label, _STRING), now)
            value(variables["Power"], ua.Variant(float(event.power_kw), _DOUBLE), now)
        elif isinstance(event, ev.JobStarted):
            value(variables["OrderId"], ua.Variant(event.order_id, _STRING), now)
        elif isinstance(event, ev.PartFinished):
            counts = self._counts[cell]
            if event.outcome is ev.PartOutcome.GOOD:
                counts[0] += 1
                value(variables["GoodParts"], ua.Variant(counts[0], _UINT), now)
            elif event.outcome is ev.PartOutcome.SCRAP:
                counts[1] += 1
                value(variables["ScrapParts"], ua.Variant(counts[1], _UINT), now)
        elif isinstance(event, ev.AlarmRaised):
            value(variables["ActiveAlarm"], ua.Variant(event.alarm.value, _STRING), now)
        elif isinstance(event, ev.AlarmCleared):
            value(variables["ActiveAlarm"], ua.Variant("", _STRING), now)
        elif isinstance(event, ev.ShiftReportFiled):
            value(variables["ShiftGoodActual"], ua.Variant(event.good_actual, _UINT), now)
            value(variables["ShiftScrapActual"], ua.Variant(event.scrap_actual, _UINT), now)
            value(variables["ShiftDowntimeActual"],
                  ua.Variant(float(event.downtime_actual_s), _DOUBLE), now)
            self._write_report(event)
        # Lots wait in a SimPy store the model publishes no events for: sample it whenever
        # the cell does something (it takes a lot when it starts a job).
        lots = len(self._by_id[cell].input.items)
        value(variables["Buffer"], ua.Variant(lots, _UINT), now)

    def _write_report(self, event: ev.ShiftReportFiled) -> None:
        variables = self._reports.get(event.cell)
        if variables is None:
            return
        value, now, clock = self.writes.value, event.time, self.writes.source_time
        value(variables["ShiftStart"],
              ua.Variant(clock(event.shift_start), ua.VariantType.DateTime), now)
        value(variables["GoodReported"], ua.Variant(event.good_reported, _UINT), now)
        value(variables["ScrapReported"], ua.Variant(event.scrap_reported, _UINT), now)
        value(variables["DowntimeReported"],
              ua.Variant(float(event.downtime_reported_s), _DOUBLE), now)
        # Last, so that a client seeing FiledAt change finds the figures of that report.
        value(variables["FiledAt"], ua.Variant(clock(now), ua.VariantType.DateTime), now)

    def _write_kpis(self, now: float) -> None:
        if now <= 0:
            return
        report = self.kpis.report(now=now)
        value = self.writes.value
        for cell_kpis in report.cells:
            variables = self._vars.get(cell_kpis.cell)
            if variables is None:
                continue
            for name, figure in (("OEE", cell_kpis.oee), ("Availability", cell_kpis.availability),
                                 ("Performance", cell_kpis.performance),
                                 ("Quality", cell_kpis.quality)):
                if figure is not None:
                    value(variables[name], ua.Variant(float(figure), _DOUBLE), now)
        plant = report.plant
        mttr = plant.repairs.mttr_s
        latency = plant.information.latency_s.mean
        figures = {
            "OEE": plant.oee, "Availability": plant.availability,
            "Performance": plant.performance, "Quality": plant.quality,
            "Throughput": plant.throughput_parts_per_h,
            "LeadTime": None if plant.lead_time_s.mean is None else plant.lead_time_s.mean / 3600,
            "OnTimeInFull": plant.on_time_in_full,
            "MTTR": None if mttr is None else mttr / 60,
            "WIP": plant.wip_orders,
            "EnergyPerGoodPart": plant.energy_per_good_part_kwh,
            "InformationLatency": None if latency is None else latency / 60,
            "InformationAccuracy": plant.information.accuracy,
        }
        for name, figure in figures.items():
            if figure is not None:
                value(self._kpi_vars[name], ua.Variant(float(figure), _DOUBLE), now)
