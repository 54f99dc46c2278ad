"""Level 1 cells: each vendor's own namespace, names, units and state codes.

At the vendor level (DESIGN.md section 1) a cell is online, but only through its vendor's
interface: nothing of it appears under Objects/Machines, nothing uses a companion spec, and a
consumer needs a hand-written mapping per vendor — that is the coupling barrier the lesson is
about. A `Dialect` says how one vendor spells things; unknown vendors get a dialect derived
from their key, so every vendor-level cell is reachable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from asyncua import ua

from factory_sim import events as ev
from factory_sim.states import Activity
from opcua_server.node_batch import HAS_COMPONENT, ORGANIZES, NodeBatch
from opcua_server.state_machines import child
from opcua_server.vendor_job_import import VendorJobImport
from opcua_server.writes import Writes


@dataclass(frozen=True)
class Dialect:
    uri: str
    root: str  # folder under Objects
    state: str
    state_codes: dict[Activity, int | str]
    power: str
    power_factor: float  # model kW -> vendor unit
    energy: str
    energy_factor: float  # model kWh -> vendor unit
    good: str
    scrap: str
    order: str
    alarm: str  # active alarm text ("" when none)
    # a mapped cell's job import (`opcua_server.vendor_job_import`): method, its arguments
    # (job number, program, quantity), the list of imported jobs
    job_import: str = "IMPORT_JOB"
    job_import_arguments: tuple[str, str, str] = ("JOB_NO", "PROGRAM", "QTY")
    job_list: str = "JOB_LIST"


_LASERTEC_CODES = {
    Activity.PRODUCING: 10, Activity.SHORT_STOP: 11, Activity.SETUP: 20,
    Activity.STARVED: 30, Activity.BLOCKED: 31, Activity.WAITING_OPERATOR: 32,
    Activity.STOPPED: 40, Activity.FAILED: 90, Activity.REPAIR: 91,
    Activity.MAINTENANCE: 92, Activity.BREAK: 50, Activity.OFF_SHIFT: 0,
}
_TEXT_CODES = {
    Activity.PRODUCING: "RUN", Activity.SHORT_STOP: "HOLD", Activity.SETUP: "SETUP",
    Activity.STARVED: "IDLE_NO_MATERIAL", Activity.BLOCKED: "IDLE_OUTPUT_FULL",
    Activity.WAITING_OPERATOR: "IDLE_OPERATOR", Activity.STOPPED: "STOP",
    Activity.FAILED: "ALARM", Activity.REPAIR: "SERVICE", Activity.MAINTENANCE: "SERVICE",
    Activity.BREAK: "PAUSE", Activity.OFF_SHIFT: "OFF",
}

DIALECTS: dict[str, Dialect] = {
    "lasertec": Dialect(
        uri="urn:lasertec:opcua:maschinen", root="LASERTEC", state="BetriebsZustand",
        state_codes=_LASERTEC_CODES, power="Leistung_W", power_factor=1000.0,
        energy="Energie_Wh", energy_factor=1000.0, good="GutTeile", scrap="Ausschuss",
        order="AuftragsNr", alarm="StoerMeldung", job_import="AuftragImportieren",
        job_import_arguments=("AuftragsNr", "Programm", "Stueckzahl"), job_list="AuftragsListe",
    ),
}


def dialect_for(vendor: str) -> Dialect:
    """The vendor's dialect, or one derived from the vendor key for vendors not listed."""
    if vendor in DIALECTS:
        return DIALECTS[vendor]
    tag = "".join(ch for ch in vendor.upper() if ch.isalnum()) or "VENDOR"
    return Dialect(
        uri=f"urn:{vendor}:opcua:devices", root=tag, state=f"{tag}_STATUS",
        state_codes=_TEXT_CODES, power="PWR_KW", power_factor=1.0, energy="ENERGY_MJ",
        energy_factor=3.6, good="CNT_OK", scrap="CNT_NOK", order="JOB_NO", alarm="ALM_TEXT",
    )


@dataclass
class VendorMachine:
    """One vendor-level cell, as its vendor names it, in the vendor's namespace."""

    cell: object  # factory_sim.plant.CellInfo
    dialect: Dialect
    ns: int  # the vendor namespace's index
    good_count: int = 0
    scrap_count: int = 0
    alarms: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.node = ua.NodeId(f"{self.dialect.root}/{self.cell.serial_number}", self.ns)
        # the plant's adapter maps a mapped cell's job import (the office's jobs come by it)
        self.job_import = (VendorJobImport(self.node, self.dialect, self.ns)
                           if self.cell.mapped else None)

    @staticmethod
    def root_node(dialect: Dialect, ns: int) -> ua.NodeId:
        return ua.NodeId(dialect.root, ns)

    @staticmethod
    def build_root(batch: NodeBatch, dialect: Dialect, ns: int) -> None:
        batch.object(VendorMachine.root_node(dialect, ns), ua.QualifiedName(dialect.root, ns),
                     ua.NodeId(ua.ObjectIds.ObjectsFolder), ua.NodeId(ua.ObjectIds.FolderType),
                     reference=ORGANIZES)

    def build(self, batch: NodeBatch) -> None:
        d, ns = self.dialect, self.ns
        batch.object(self.node, ua.QualifiedName(self.cell.serial_number, ns),
                     self.root_node(d, ns), ua.NodeId(ua.ObjectIds.BaseObjectType),
                     reference=ORGANIZES)
        code_type = ua.VariantType.Int32 if isinstance(
            next(iter(d.state_codes.values())), int) else ua.VariantType.String
        self.code_type = code_type
        self.vars = {}
        for key, name, vtype in (("state", d.state, code_type),
                                 ("power", d.power, ua.VariantType.Double),
                                 ("energy", d.energy, ua.VariantType.Double),
                                 ("good", d.good, ua.VariantType.Int32),
                                 ("scrap", d.scrap, ua.VariantType.Int32),
                                 ("order", d.order, ua.VariantType.String),
                                 ("alarm", d.alarm, ua.VariantType.String)):
            nodeid = child(self.node, name)
            batch.variable(nodeid, ua.QualifiedName(name, ns), self.node, ua.Variant(None),
                           ua.NodeId(vtype.value), reference=HAS_COMPONENT)
            self.vars[key] = nodeid
        if self.job_import is not None:
            self.job_import.build(batch)

    def initial(self, writes: Writes) -> None:
        writes.value(self.vars["good"], ua.Variant(0, ua.VariantType.Int32), 0.0)
        writes.value(self.vars["scrap"], ua.Variant(0, ua.VariantType.Int32), 0.0)
        writes.value(self.vars["alarm"], ua.Variant("", ua.VariantType.String), 0.0)

    def apply(self, event: ev.Event, writes: Writes) -> None:
        d, t, v = self.dialect, event.time, self.vars
        if isinstance(event, ev.StateChanged):
            writes.value(v["state"], ua.Variant(d.state_codes[event.activity], self.code_type), t)
            writes.value(v["power"], ua.Variant(event.power_kw * d.power_factor,
                                                ua.VariantType.Double), t)
            writes.value(v["energy"], ua.Variant(event.energy_kwh * d.energy_factor,
                                                 ua.VariantType.Double), t)
        elif isinstance(event, ev.PartFinished):
            if event.outcome is ev.PartOutcome.SCRAP:
                self.scrap_count += 1
                writes.value(v["scrap"], ua.Variant(self.scrap_count, ua.VariantType.Int32), t)
            elif event.outcome is ev.PartOutcome.GOOD:
                self.good_count += 1
                writes.value(v["good"], ua.Variant(self.good_count, ua.VariantType.Int32), t)
        elif isinstance(event, ev.JobStarted):
            writes.value(v["order"], ua.Variant(event.order_id, ua.VariantType.String), t)
            if self.job_import is not None:  # the office's job, imported by its adapter
                self.job_import.record(f"{event.order_id};{event.variant}.{self.cell.name};"
                                       f"{event.planned}", writes, t)
        elif isinstance(event, ev.AlarmRaised | ev.AlarmCleared):
            if isinstance(event, ev.AlarmRaised):
                self.alarms[event.alarm_id] = event.message
            else:
                self.alarms.pop(event.alarm_id, None)
            text = next(reversed(self.alarms.values()), "")
            writes.value(v["alarm"], ua.Variant(text, ua.VariantType.String), t)
