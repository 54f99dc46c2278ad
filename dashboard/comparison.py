"""The plants side by side: big-number KPI tiles and the plants' OEE over the last shift.

OEE and its factors are the plant KPIs the bridge publishes on the UNS (the simulator's
measurement while there are none: `PlantState.plant_kpi`); the other figures are the
simulator's measurement (ISO 22400): the factories themselves know them only as well as their
data.
"""

from __future__ import annotations

import time

from nicegui import ui

from dashboard.plant_details import CHART_EVERY_S
from dashboard.plant_panel import capped
from dashboard.state import PlantState, format_age
from dashboard.widgets import Part, Text, testid


def _share(value) -> str:
    share, was_over = capped(value)
    return "–" if share is None else f"{100 * share:.1f} %" + (" (capped)" if was_over else "")


def _number(digits: int):
    return lambda v: "–" if not isinstance(v, int | float) else f"{v:,.{digits}f}"


KPIS = [  # (label, SimulatorView/Kpi name, format)
    ("OEE", "OEE", _share),
    ("Throughput [good parts/h]", "Throughput", _number(2)),
    ("Lead time, mean [h]", "LeadTime", _number(1)),
    ("On-time in full", "OnTimeInFull", _share),
    ("MTTR [min]", "MTTR", _number(1)),
    ("WIP [orders]", "WIP", _number(1)),
    ("Energy/good part [kWh]", "EnergyPerGoodPart", _number(2)),
    ("Information latency", "InformationLatency",
     lambda v: "–" if not isinstance(v, int | float) else format_age(60 * v)),
]
DETAIL_KPIS = [("Availability", "Availability", _share), ("Performance", "Performance", _share),
               ("Quality", "Quality", _share),
               ("Information accuracy", "InformationAccuracy", _share)]


class KpiComparison:
    """One tile per KPI, each with every plant's figure in large type."""

    def __init__(self, plants: list[PlantState], pids: list[str]) -> None:
        self.plants = plants
        self.cells: list[tuple[Text, PlantState, str, object]] = []
        with Part().classes("hmi-panel gap-1 w-full"):
            ui.label("Side by side (simulator's measurement, ISO 22400)").classes("hmi-title")
            with ui.grid(columns=len(KPIS)).classes("w-full gap-1"):
                for label, name, fmt in KPIS:
                    with ui.column().classes("hmi-tile gap-0"):
                        ui.label(label).classes("hmi-small hmi-muted")
                        for plant, pid in zip(plants, pids, strict=True):
                            with ui.row().classes("items-baseline gap-1 no-wrap w-full"):
                                text = Text(classes="hmi-mid whitespace-nowrap",
                                            test_id=testid("kpi", pid, name))
                                ui.label(plant.name).classes(
                                    "hmi-small hmi-muted ellipsis min-w-0")
                            self.cells.append((text, plant, name, fmt))

    def update(self) -> None:
        for text, plant, name, fmt in self.cells:
            text.set(fmt(plant.plant_kpi(name)))


class OeeTrend:
    """The plants' OEE over the last simulated shift, with the rest of the KPIs beside it."""

    def __init__(self, plants: list[PlantState], pids: list[str]) -> None:
        self.plants = plants
        self._due = 0.0
        self.cells: list[tuple[Text, PlantState, str, object]] = []
        with Part("row").classes("hmi-panel hmi-below w-full items-start no-wrap"):
            with ui.grid(columns=len(plants) + 1).classes("gap-x-4 gap-y-0 hmi-small"):
                ui.label("KPI").classes("font-bold")
                for plant in plants:
                    ui.label(plant.name).classes("font-bold")
                for label, name, fmt in DETAIL_KPIS:
                    ui.label(label)
                    for plant, pid in zip(plants, pids, strict=True):
                        self.cells.append((Text(test_id=testid("kpi", pid, name)), plant, name,
                                           fmt))
            self.chart = ui.echart({
                "title": {"text": "Plant OEE over the last simulated shift", "left": 0,
                          "textStyle": {"fontSize": 13}},
                "tooltip": {"trigger": "axis"},
                "legend": {"bottom": 0, "left": "center"},
                "grid": {"top": 30, "left": 50, "right": 20, "bottom": 60},
                "xAxis": {"type": "time", "name": "simulated time", "nameLocation": "middle",
                          "nameGap": 22, "axisLabel": {"formatter": "{HH}:{mm}"}},
                "yAxis": {"type": "value", "min": 0, "max": 100, "name": "OEE [%]"},
                "animation": False,
                "series": [{"name": p.name, "type": "line", "showSymbol": False, "data": []}
                           for p in plants],
            }).classes("grow h-64")

    def update(self) -> None:
        for text, plant, name, fmt in self.cells:
            text.set(fmt(plant.plant_kpi(name)))
        now = time.monotonic()
        if now < self._due:  # a chart redraw costs the browser more than labels
            return
        self._due = now + CHART_EVERY_S
        for series, plant in zip(self.chart.options["series"], self.plants, strict=True):
            series["data"] = [[when.isoformat(), round(100 * oee, 2)]
                              for when, oee in plant.oee_trend]
        self.chart.update()
