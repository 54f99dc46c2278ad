"""The dashboard page (NiceGUI): the floor, OEE, alarms, knowledge against truth, KPIs, controls.

Each browser gets its own page; a per-page timer redraws what changed at most
`FRAMES_PER_S` times a second, so a fast plant never floods the browser. Everything taken from
the simulator's own view is labelled so: the factory could not show it.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime
from typing import TYPE_CHECKING

from nicegui import ui

from dashboard.state import (
    ANDON,
    FRAMES_PER_S,
    UNKNOWN_COLOUR,
    CellView,
    PlantState,
    format_age,
    percent,
)

_logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from dashboard.app import Dashboard

SPEEDS = [30, 60, 120, 300, 600, 1200, 3000]
KPI_ROWS = [  # (label, SimulatorView/Kpi name, format)
    ("OEE", "OEE", percent),
    ("Availability", "Availability", percent),
    ("Performance", "Performance", percent),
    ("Quality", "Quality", percent),
    ("Throughput [good parts/h]", "Throughput", lambda v: _number(v, 2)),
    ("Lead time, mean [h]", "LeadTime", lambda v: _number(v, 1)),
    ("On-time in full", "OnTimeInFull", percent),
    ("MTTR [min]", "MTTR", lambda v: _number(v, 1)),
    ("WIP [orders]", "WIP", lambda v: _number(v, 1)),
    ("Energy per good part [kWh]", "EnergyPerGoodPart", lambda v: _number(v, 2)),
    ("Information latency, mean", "InformationLatency",
     lambda v: "–" if v is None else format_age(60 * v)),
    ("Information accuracy", "InformationAccuracy", percent),
]
SIM_NOTE = "simulator's view: the factory cannot see this"


def _number(value, digits: int) -> str:
    return "–" if not isinstance(value, int | float) else f"{value:,.{digits}f}"


def _clock(when: datetime | None) -> str:
    return "–" if when is None else when.strftime("%a %H:%M")


_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def slug(name: str, index: int) -> str:
    """`name` if it is a plain slug, else `#<index>`: a test id never carries other text."""
    return name if _SLUG.fullmatch(name) else f"#{index}"


def mark(element: ui.element, testid: str | None) -> ui.element:
    """Set the element's `data-testid` as a prop value (never through NiceGUI's props-string
    parser, which would read `x" innerHTML="..."` as a second prop); `testid` is made of fixed
    words and `slug(...)`s."""
    if testid:
        element.props["data-testid"] = testid
    return element


def _testid(*parts: str) -> str:
    return "-".join(parts)


_failed_parts: set[str] = set()


def redraw(what: str, update) -> None:
    """One part's redraw: a failure is logged once per part and leaves every other part
    drawing (a part that fails keeps its last picture)."""
    try:
        update()
    except Exception:
        if what not in _failed_parts and len(_failed_parts) < 1000:
            _failed_parts.add(what)
            _logger.exception("redrawing %r failed (logged once)", what)


class Text:
    """A label that sends the browser an update only when its text or colour changes."""

    def __init__(self, text: str = "", classes: str = "", testid: str | None = None) -> None:
        self.label = mark(ui.label(text).classes(classes), testid)
        self._text, self._style = text, ""

    def set(self, text: str, style: str | None = None) -> None:
        if text != self._text:
            self._text = text
            self.label.set_text(text)
        if style is not None and style != self._style:
            self._style = style
            self.label.style(replace=style)


class Tile:
    def __init__(self, pid: str, cell: CellView, index: int) -> None:
        self.cell = cell
        cid = _testid(pid, slug(cell.name, index))
        with ui.card().tight().classes("w-36 p-2 shrink-0") as self.card:
            mark(self.card, _testid("tile", cid))
            ui.label(cell.name).classes("font-bold")
            self.state = Text(classes="text-white px-2 rounded",
                              testid=_testid("state", cid))
            self.mode = Text(classes="text-xs")
            self.order = Text(classes="text-xs")
            self.counts = Text(classes="text-sm", testid=_testid("counts", cid))
            self.power = Text(classes="text-xs")
            self.source = Text(classes="text-xs italic")

    def update(self) -> None:
        cell, shown = self.cell, self.cell.shown()
        state = shown.get("state")
        self.state.set(f"{state or '?'} · {shown.get('activity') or '?'}",
                       f"background:{ANDON.get(state, UNKNOWN_COLOUR)}")
        self.mode.set(f"mode {shown.get('mode') or '–'}")
        self.order.set(f"order {shown.get('order') or '–'}")
        self.counts.set(f"good {shown.get('good') or 0} · scrap {shown.get('scrap') or 0}")
        power = shown.get("power")
        self.power.set("power –" if power is None else f"power {power:.1f} kW")
        self.source.set("from the UNS (MQTT)" if cell.is_live else SIM_NOTE,
                        "color:#1565c0" if cell.is_live else "color:#8e24aa")


class PlantPanel:
    """One plant's floor, knowledge against truth, OEE and alarms."""

    def __init__(self, dashboard: Dashboard, plant: PlantState, pid: str) -> None:
        self.dashboard, self.plant, self.pid = dashboard, plant, pid
        self.version = -1
        self.structure: tuple = ()
        self.alarm_key: tuple = ()
        with ui.card().classes("w-full"):
            with ui.row().classes("items-baseline gap-4"):
                ui.label(plant.name).classes("text-xl font-bold")
                self.clock = Text(classes="text-lg", testid=_testid("clock", pid))
                self.status = Text(classes="text-sm", testid=_testid("status", pid))
            ui.label("The floor (routing order; andon colours by MachineryItemState; ▶ lots "
                     "waiting in front of a cell / buffer size, simulator's view)") \
                .classes("text-sm text-gray-600")
            self.floor = ui.row().classes("items-center gap-1 flex-nowrap overflow-x-auto w-full")
            ui.label("What the factory knows against what is true").classes("font-bold mt-2")
            self.knowledge = ui.column().classes("gap-0")
            ui.label("OEE (ISO 22400) per cell and plant; (sim): the simulator's figures, the "
                     "factory does not know them").classes("font-bold mt-2")
            self.oee = ui.grid(columns=5).classes("gap-x-4 gap-y-0 text-sm")
            ui.label("Alarms (active or unacknowledged, from the UNS)").classes("font-bold mt-2")
            self.alarms = ui.column().classes("gap-1")
            ui.label("Downtime Pareto (from the UNS: only what the factory saw)") \
                .classes("font-bold mt-2")
            self.pareto = Text(classes="text-sm", testid=_testid("pareto", pid))
            self.timeline = StateTimeline(plant, pid)
        self.tiles: list[Tile] = []
        self.buffers: dict[str, Text] = {}
        self.knowledge_rows: dict[str, Text] = {}
        self.oee_rows: dict[str, list[Text]] = {}

    def _rebuild(self) -> None:
        plant = self.plant
        cells = plant.ordered_cells()
        self.floor.clear()
        self.tiles, self.buffers = [], {}
        with self.floor:
            for index, cell in enumerate(cells):
                self.buffers[cell.name] = Text(
                    classes="text-xs text-gray-700",
                    testid=_testid("buffer", self.pid, slug(cell.name, index)))
                self.tiles.append(Tile(self.pid, cell, index))
        self.knowledge.clear()
        self.knowledge_rows = {}
        with self.knowledge:
            for index, cell in enumerate(cells):
                self.knowledge_rows[cell.name] = Text(
                    classes="text-sm",
                    testid=_testid("knowledge", self.pid, slug(cell.name, index)))
        self.oee.clear()
        self.oee_rows = {}
        with self.oee:
            for title in ("cell", "OEE", "availability", "performance", "quality"):
                ui.label(title).classes("font-bold")
            for name in [c.name for c in cells] + ["plant (simulator)"]:
                self.oee_rows[name] = [Text(name)] + [Text() for _ in range(4)]

    def update(self) -> None:
        plant = self.plant
        structure = tuple((c.name, c.position) for c in plant.ordered_cells())
        if structure != self.structure:
            self.structure = structure
            self._rebuild()
        paused = {True: "paused", False: "running", None: "?"}[plant.paused]
        speed = "?" if plant.speed is None else f"{plant.speed:g}x"
        self.clock.set(_clock(plant.clock))
        self.status.set(f"{paused} · {speed} · bridge {plant.bridge} · OPC UA "
                        f"{'connected' if plant.opcua_connected else 'connecting'}")
        for tile in self.tiles:
            redraw(f"tile {plant.name}/{tile.cell.name}", tile.update)
        for cell in plant.ordered_cells():
            redraw(f"rows {plant.name}/{cell.name}", lambda c=cell: self._cell_rows(c))
        redraw(f"OEE {plant.name}", lambda: self._oee_row(
            "plant (simulator)", {k.lower(): v for k, v in plant.true_kpis.items()},
            "plant (sim)"))
        redraw(f"Pareto {plant.name}", lambda: self.pareto.set(
            ", ".join(f"{activity} {seconds / 3600:.1f} h"
                      for activity, seconds in plant.pareto()[:6])
            or "nothing: no cell of this plant is on the UNS"))
        redraw(f"alarms {plant.name}", self._update_alarms)
        redraw(f"timeline {plant.name}", self.timeline.update)

    def _cell_rows(self, cell: CellView) -> None:
        buffer = cell.truth.get("buffer")
        self.buffers[cell.name].set(
            f"▶ {'?' if buffer is None else buffer}/{cell.buffer_capacity or '?'}")
        self.knowledge_rows[cell.name].set(self._knowledge(cell))
        self._oee_row(cell.name, cell.live if cell.is_live else cell.truth,
                      cell.name if cell.is_live else f"{cell.name} (sim)")

    def _oee_row(self, name: str, figures: dict, title: str) -> None:
        """One row; a title marked (sim) says the figures are the simulator's, not known."""
        row = self.oee_rows.get(name)
        if row is None:
            return
        row[0].set(title, "color:#8e24aa" if title.endswith("(sim)") else "")
        for text, key in zip(row[1:], ("oee", "availability", "performance", "quality"),
                             strict=True):
            text.set(percent(figures.get(key)))

    def _knowledge(self, cell: CellView) -> str:
        truth = f"{cell.truth.get('state') or '?'} ({cell.truth.get('activity') or '?'})"
        age = format_age(self.plant.knowledge_age_s(cell))
        if cell.is_live:
            known = f"{cell.live.get('state') or '?'} ({cell.live.get('activity') or '?'})"
            return f"{cell.name}: factory knows {known}, live, {age} old · true: {truth}"
        report = cell.report
        if cell.connectivity == "vendor" and not report:
            return (f"{cell.name}: on its vendor's own interface only (own names, units and "
                    f"codes): the factory sees it through a hand-written adapter, the UNS "
                    f"not at all · true: {truth}")
        if report.get("FiledAt") is None:
            return (f"{cell.name}: factory knows nothing yet (no paper shift report so far) · "
                    f"true: {truth}")
        downtime = (report.get("DowntimeReported") or 0.0) / 60
        actual = cell.truth
        true_downtime = (actual.get("shift_downtime_s") or 0.0) / 60
        return (f"{cell.name}: factory knows the shift report filed {_clock(report['FiledAt'])}"
                f" (age {age}): good {report.get('GoodReported')} (true "
                f"{actual.get('shift_good', '?')}), scrap {report.get('ScrapReported')} (true "
                f"{actual.get('shift_scrap', '?')}), downtime {downtime:.0f} min (true "
                f"{true_downtime:.0f} min) · true now: {truth}")

    def _update_alarms(self) -> None:
        plant = self.plant
        alarms = sorted(plant.alarms.values(), key=lambda a: (a.acked, -a.severity, a.cell))
        key = tuple((a.condition_id, a.event_id, a.active, a.acked) for a in alarms)
        if key == self.alarm_key:
            return
        self.alarm_key = key
        self.alarms.clear()
        with self.alarms:
            if not alarms:
                ui.label("none" if any(c.is_live for c in plant.cells.values())
                         else "none visible: no cell of this plant is online").classes("text-sm")
            cell_index = {name: i for i, name in enumerate(plant.cells)}
            for index, alarm in enumerate(alarms):
                aid = _testid(self.pid, slug(alarm.cell, cell_index.get(alarm.cell, 0)),
                              slug(alarm.name, index))
                with ui.row().classes("items-center gap-2 text-sm") as row:
                    mark(row, _testid("alarm", aid))
                    colour = "#c62828" if alarm.active else "#616161"
                    ui.label(f"{alarm.cell} · {alarm.name} ({alarm.severity})") \
                        .style(f"color:{colour}").classes("font-bold")
                    ui.label(alarm.message)
                    ui.label(_clock(alarm.time))
                    mark(ui.label(("active" if alarm.active else "cleared") + " · "
                                  + ("acknowledged" if alarm.acked else "unacknowledged")),
                         _testid("ackstate", aid))
                    if not alarm.acked:
                        mark(ui.button("Acknowledge", on_click=lambda a=alarm: self._ack(a))
                             .props("dense"), _testid("ack", aid))

    async def _ack(self, alarm) -> None:
        if not refused_unless_operator(self.dashboard, "Acknowledge"):
            return
        try:
            await self.dashboard.links[self.plant.name].acknowledge(
                alarm.condition_id, alarm.event_id, "acknowledged from the demo dashboard")
        except Exception as exc:
            ui.notify(str(exc), type="negative")


TIMELINE_RECT = """function (params, api) {
  var row = api.value(0);
  var from = api.coord([api.value(1), row]), to = api.coord([api.value(2), row]);
  var height = api.size([0, 1])[1] * 0.6;
  return {type: 'rect', style: api.style(), shape: {x: from[0], y: from[1] - height / 2,
          width: Math.max(to[0] - from[0], 1), height: height}};
}"""


class StateTimeline:
    """MachineryItemState per cell over the last simulated shift (ECharts custom series)."""

    def __init__(self, plant: PlantState, pid: str) -> None:
        self.plant = plant
        self._due = 0.0
        self._height = 0
        ui.label("State timeline, last 8 simulated hours").classes("font-bold mt-2")
        self.chart = ui.echart({
            "animation": False,
            "grid": {"top": 5, "left": 130, "right": 10, "bottom": 25},
            "xAxis": {"type": "time"},
            "yAxis": {"type": "category", "data": [], "inverse": True},
            "series": [{"type": "custom", ":renderItem": TIMELINE_RECT,
                        "encode": {"x": [1, 2], "y": 0}, "data": []}],
        }).classes("w-full")
        mark(self.chart, _testid("timeline", pid))

    def update(self) -> None:
        now = time.monotonic()
        plant = self.plant
        if now < self._due or plant.clock is None:
            return
        cells = plant.ordered_cells()
        # A hundred cells' rectangles cost the browser more than the rest of the page.
        self._due = now + max(1.0, len(cells) / 25)
        data = []
        for row, cell in enumerate(cells):
            for start, end, state in cell.segments(plant.clock):
                data.append({"value": [row, start.timestamp() * 1000, end.timestamp() * 1000],
                             "itemStyle": {"color": ANDON.get(state, UNKNOWN_COLOUR)}})
        self.chart.options["yAxis"]["data"] = [
            c.name if c.is_live else f"{c.name} (sim)" for c in cells]
        height = 30 + 24 * len(cells)
        if height != self._height:
            self._height = height
            self.chart.style(replace=f"height:{height}px")
        self.chart.options["series"][0]["data"] = data
        self.chart.update()


class KpiComparison:
    """The plants' true KPIs side by side, and their OEE over the last simulated shift."""

    def __init__(self, plants: list[PlantState], pids: list[str]) -> None:
        self.plants = plants
        self._chart_due = 0.0
        with ui.card().classes("w-full"):
            ui.label("Side by side (simulator's measurement, ISO 22400; the factories know "
                     "these only as well as their data)").classes("font-bold")
            with ui.row().classes("w-full items-start"):
                with ui.grid(columns=len(plants) + 1).classes("gap-x-6 gap-y-0 text-sm"):
                    ui.label("KPI").classes("font-bold")
                    for plant in plants:
                        ui.label(plant.name).classes("font-bold")
                    self.cells = []
                    for label, name, fmt in KPI_ROWS:
                        ui.label(label)
                        self.cells.append([(Text(testid=_testid("kpi", pid, name)),
                                            plant, name, fmt)
                                           for plant, pid in zip(plants, pids, strict=True)])
                self.chart = ui.echart({
                    "title": {"text": "Plant OEE over the last shift", "left": 0,
                              "textStyle": {"fontSize": 13}},
                    "tooltip": {"trigger": "axis"},
                    "legend": {"top": 0, "right": 0},
                    "grid": {"top": 50, "left": 45, "right": 15, "bottom": 30},
                    "xAxis": {"type": "time"},
                    "yAxis": {"type": "value", "min": 0, "max": 100, "name": "%"},
                    "animation": False,
                    "series": [{"name": p.name, "type": "line", "showSymbol": False,
                                "data": []} for p in plants],
                }).classes("w-[36rem] h-64")

    def update(self) -> None:
        for row in self.cells:
            for text, plant, name, fmt in row:
                text.set(fmt(plant.true_kpis.get(name)))
        now = time.monotonic()
        if now >= self._chart_due:  # a chart redraw costs the browser more than labels
            self._chart_due = now + 1.0
            for series, plant in zip(self.chart.options["series"], self.plants, strict=True):
                series["data"] = [[when.isoformat(), round(100 * oee, 2)]
                                  for when, oee in plant.oee_trend]
            self.chart.update()


def refused_unless_operator(dashboard: Dashboard, what: str) -> bool:
    """True if this page's browser is logged in as the operator; else tells the page why the
    action is refused. Checked here, on the server, for every action."""
    if dashboard.may_act(ui.context.client.request.cookies):
        return True
    _logger.warning("%s refused: the browser is not logged in as the operator", what)
    ui.notify(f"{what} refused: only the operator may act (log in with the link or the "
              "password the demo printed)", type="warning")
    return False


class Controls:
    """Pause, Resume and the speed (every plant at once), and who is watching."""

    def __init__(self, dashboard: Dashboard) -> None:
        self.dashboard = dashboard
        self._shown: int | None = None  # the speed the servers said, highlighted
        operator = dashboard.may_act(ui.context.client.request.cookies)
        mark(ui.button("Pause", on_click=lambda: self._act("Pause", dashboard.pause_all)),
             "pause-all")
        mark(ui.button("Resume", on_click=lambda: self._act("Resume", dashboard.resume_all)),
             "resume-all")
        ui.label("speed ×")
        self.speed = mark(ui.toggle(SPEEDS, on_change=self._speed).props("dense no-caps"),
                          "speed")
        mark(ui.label("operator: you may act" if operator else "watching (read-only)"),
             "role")
        if not operator:
            mark(ui.link("operator login", "/login"), "login")

    async def _act(self, what: str, command) -> None:
        if refused_unless_operator(self.dashboard, what):
            await command()

    async def _speed(self, event) -> None:
        if event.value is None or event.value == self._shown:
            return  # the highlight following the servers, not a click
        if refused_unless_operator(self.dashboard, "Speed"):
            await self.dashboard.set_speed_all(event.value)
        else:
            self.speed.set_value(self._shown)  # back to what the plants run at

    def show_speed(self) -> None:
        """Highlight the speed the plants run at (the first plant's, as the servers say)."""
        speeds = [p.speed for p in self.dashboard.plants.values() if p.speed is not None]
        value = int(speeds[0]) if speeds and speeds[0] in SPEEDS else None
        if value != self._shown:
            self._shown = value
            self.speed.set_value(value)


def build_page(dashboard: Dashboard) -> None:
    plants = list(dashboard.plants.values())
    ui.page_title("factory-sim demo")
    with ui.row().classes("w-full items-center gap-3"):
        ui.label("factory-sim demo").classes("text-2xl font-bold")
        controls = Controls(dashboard)
    pids = [slug(plant.name, index) for index, plant in enumerate(plants)]
    panels = []
    with ui.grid(columns=min(len(plants), 2)).classes("w-full"):
        for plant, pid in zip(plants, pids, strict=True):
            panels.append(PlantPanel(dashboard, plant, pid))
    comparison = KpiComparison(plants, pids)
    versions = [-1]

    def refresh() -> None:
        total = sum(p.version for p in plants)
        if total == versions[0]:
            return
        versions[0] = total
        for panel in panels:
            panel.update()
        redraw("side by side", comparison.update)
        redraw("speed", controls.show_speed)
        dashboard.pushed()

    ui.timer(1.0 / FRAMES_PER_S, refresh)
