"""The KPIs a reader sees, in one list: shared by the terminal tables, the CSV files and charts.

Each `KpiRow` says where a figure lives in `KpiReport.as_dict()` (for the plant and for a
cell; None where it does not apply), the unit it is shown in and how to format it.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PERCENT = "%"


@dataclass(frozen=True)
class KpiRow:
    label: str
    unit: str  # "%" for ratios (shown ×100), else the unit after scaling
    plant: str | None  # dotted path in the plant section of KpiReport.as_dict()
    cell: str | None  # ... and in a cell's section
    scale: float = 1.0  # divide the stored value (seconds, ratios) by this
    digits: int = 1

    @property
    def heading(self) -> str:
        return f"{self.label} [{self.unit}]" if self.unit else self.label

    def value(self, section: dict, level: str) -> float | None:
        """The figure in display units, from a plant or cell section; None if n/a."""
        path = self.plant if level == "plant" else self.cell
        if path is None:
            return None
        value: Any = section
        for key in path.split("."):
            value = value[key]
        if value is None:
            return None
        return value * 100 if self.unit == PERCENT else value / self.scale

    def text(self, value: float | None) -> str:
        if value is None:
            return "–"
        return f"{value:,.{self.digits}f}"


MINUTE, HOUR = 60.0, 3600.0

KPI_ROWS: tuple[KpiRow, ...] = (
    KpiRow("OEE", PERCENT, "oee", "oee"),
    KpiRow("Availability", PERCENT, "availability", "availability"),
    KpiRow("Performance", PERCENT, "performance", "performance"),
    KpiRow("Quality", PERCENT, "quality", "quality"),
    KpiRow("Good parts", "", "good_parts", "good", digits=0),
    KpiRow("Throughput", "good parts/h", "throughput_parts_per_h", "throughput_per_h",
           digits=2),
    KpiRow("Orders completed", "", "orders_completed", None, digits=0),
    KpiRow("Lead time, mean", "h", "lead_time_s.mean", None, HOUR),
    KpiRow("Lead time, median", "h", "lead_time_s.p50", None, HOUR),
    KpiRow("Lead time, p90", "h", "lead_time_s.p90", None, HOUR),
    KpiRow("Throughput time, mean", "h", "throughput_time_s.mean", None, HOUR),
    KpiRow("WIP", "orders", "wip_orders", None),
    KpiRow("WIP", "parts", "wip_parts", None),
    KpiRow("On-time in full (OTIF)", PERCENT, "on_time_in_full", None),
    KpiRow("  on time, any quantity", PERCENT, "on_time", None),
    KpiRow("Fill rate", PERCENT, "fill_rate", None),
    KpiRow("Setup time", "h", "times.setup_s", "times.setup_s", HOUR),
    KpiRow("Failures", "", "repairs.failures", "repairs.failures", digits=0),
    KpiRow("MTTR", "min", "repairs.mttr_s", "repairs.mttr_s", MINUTE),
    KpiRow("  detection", "min", "repairs.detection_s", "repairs.detection_s", MINUTE),
    KpiRow("  response", "min", "repairs.response_s", "repairs.response_s", MINUTE),
    KpiRow("  repair", "min", "repairs.repair_s", "repairs.repair_s", MINUTE),
    KpiRow("MTBF, producing time", "h", "repairs.mtbf_producing_s",
           "repairs.mtbf_producing_s", HOUR),
    KpiRow("MTBF, operating time (ISO)", "h", "repairs.mtbf_operating_s",
           "repairs.mtbf_operating_s", HOUR),
    KpiRow("Energy", "kWh", "energy_kwh", "energy_kwh", digits=0),
    KpiRow("Energy per good part", "kWh", "energy_per_good_part_kwh",
           "energy_per_good_part_kwh", digits=3),
    KpiRow("Information latency, mean", "s", "information.latency_s.mean",
           "information.latency_s.mean"),
    KpiRow("Information latency, p90", "s", "information.latency_s.p90",
           "information.latency_s.p90"),
    KpiRow("State changes never learned", PERCENT, "information.unlearned_share",
           "information.unlearned_share"),
    KpiRow("Information accuracy", PERCENT, "information.accuracy", "information.accuracy"),
    KpiRow("Network outage", "h", "network_outage_s", None, HOUR),
)


def kpi_table(title: str, columns: Sequence[tuple[str, dict, str]]):
    """A rich Table: one row per KPI, one column per (heading, section, "plant"|"cell")."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, title_justify="left")
    table.add_column("KPI", no_wrap=True)
    for heading, _, _ in columns:
        table.add_column(Text(heading), justify="right", no_wrap=True)
    for row in KPI_ROWS:
        values = [row.text(row.value(section, level)) for _, section, level in columns]
        if all(value == "–" for value in values) and row.cell is None:
            continue  # a plant-only KPI in a table of cells
        table.add_row(Text(row.heading), *values)
    return table


def state_time_table(report: dict):
    """Where each cell's time went: hours and share per activity, with its ISO 22400 element.

    The losses behind the availability figure, in the shop floor's words.
    """
    from rich.table import Table

    from factory_sim.states import Activity

    cells = report["cells"]
    table = Table(title="Where the time went: hours (share) per activity",
                  title_justify="left")
    table.add_column("activity", no_wrap=True)
    table.add_column("ISO 22400", no_wrap=True)
    for cell in cells:
        table.add_column(cell["cell"], justify="right", no_wrap=True)
    for activity in Activity:
        seconds = [cell["state_times_s"][activity.label] for cell in cells]
        if not any(seconds):
            continue
        table.add_row(activity.label.replace("_", " "), activity.category.value, *(
            f"{s / 3600:,.1f} ({s / cell['times']['total_s']:.0%})" if s else "–"
            for s, cell in zip(seconds, cells, strict=True)))
    return table


def span(seconds: float) -> str:
    """A simulated span as a reader says it: "8 h", "5 days", "1.5 days"."""
    if seconds < 86400:
        return f"{seconds / 3600:g} h"
    days = seconds / 86400
    return f"{days:.4g} day" + ("" if days == 1 else "s")


def report_columns(report: dict) -> list[tuple[str, dict, str]]:
    """Columns for one run: the plant, then each cell."""
    return [("plant", report["plant"], "plant"),
            *((cell["cell"], cell, "cell") for cell in report["cells"])]


def write_compare_csv(path: Path, reports: Sequence[tuple[str, dict]]) -> None:
    """compare.csv: one row per KPI (label, unit), one column per scenario's plant figure."""
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["kpi", "unit", *(name for name, _ in reports)])
        for row in KPI_ROWS:
            values = [row.value(report["plant"], "plant") for _, report in reports]
            writer.writerow([row.label.strip(), row.unit,
                             *("" if value is None else value for value in values)])


def flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}: nested report sections as flat CSV columns."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def write_cells_csv(path: Path, cells: Iterable[dict]) -> None:
    """kpis_cells.csv: one row per cell, every figure of its report section as a column."""
    rows = [flatten(cell) for cell in cells]
    with open(path, "w", newline="", encoding="utf-8") as stream:
        if not rows:
            return
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
