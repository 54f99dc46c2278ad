"""One plant at a glance, as a class reads it from the back row: the floor, OEE, alarms.

A cell the factory sees online (on the unified namespace) is drawn plain grey with what the
factory knows; a cell the factory cannot see is hatched, says so, and shows in large figures
how old the factory's last report of it is; what is really happening there (the simulator's
own view) is printed small beneath, labelled as the simulator's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nicegui import ui

from dashboard.state import CellView, PlantState, format_age, format_clock
from dashboard.widgets import (
    CellsLayout,
    Part,
    Text,
    mark,
    redraw,
    slug,
    state_class,
    testid,
)

if TYPE_CHECKING:
    from dashboard.app import Dashboard

LEVEL_NAMES = {"standalone": "stand-alone", "vendor": "vendor interfaces", "opcua": "OPC UA",
               "unified": "unified namespace"}


def _count(value) -> str:
    return "–" if not isinstance(value, int | float) else f"{value:,.0f}"


def _plain(value) -> str:
    return "–" if not isinstance(value, int | float) else f"{value:.0f}"


def capped(value) -> tuple[float | None, bool]:
    """A share as ISO 22400 defines it (0..1); True if the figure given was above 1."""
    if not isinstance(value, int | float):
        return None, False
    return min(max(float(value), 0.0), 1.0), value > 1.0


class Tile:
    """One cell of the floor."""

    def __init__(self, plant: PlantState, pid: str, cell: CellView, index: int) -> None:
        self.plant, self.cell = plant, cell
        cid = testid(pid, slug(cell.name, index))
        with mark(Part().classes("hmi-tile gap-0 w-full"), testid("tile", cid)) as self.box:
            ui.label(cell.name).classes("font-bold hmi-small")
            self.big = Text(classes="hmi-big", test_id=testid("big", cid))
            self.caption = Text(classes="hmi-small hmi-muted")
            self.state = Text(classes="hmi-state", test_id=testid("state", cid))
            self.counts = Text(classes="hmi-small", test_id=testid("counts", cid))
            self.detail = Text(classes="hmi-small hmi-muted")
            self.buffer = Text(classes="hmi-small hmi-muted", test_id=testid("buffer", cid))
        self._unknown: bool | None = None

    def update(self, ages: bool = True) -> None:
        """`ages`: also the age of the factory's knowledge, which turns with the plant's clock
        (sent with the slow redraws: every tile's caption would change on every frame)."""
        cell, plant = self.cell, self.plant
        live = cell.is_live
        if live != self._unknown:
            self._unknown, ages = live, True
            self.box.classes(replace="hmi-tile gap-0 w-full" + ("" if live else " hmi-unknown"))
        shown = cell.shown()
        state = shown.get("state")
        self.state.set(f"{state or '?'} · {shown.get('activity') or '?'}", state_class(state))
        self.counts.set(f"good {_plain(shown.get('good'))} · scrap {_plain(shown.get('scrap'))}")
        buffer = cell.truth.get("buffer")
        self.buffer.set(f"▶ {_plain(buffer) if buffer is not None else '?'}/"
                        f"{_plain(cell.buffer_capacity) if cell.buffer_capacity else '?'} lots "
                        "waiting (simulator's view)")
        age = format_age(plant.knowledge_age_s(cell)) if ages else ""
        if live:
            self.big.set(_count(shown.get("good")))
            if ages:
                self.caption.set(f"good parts · last change {age} ago")
            power = shown.get("power")
            self.detail.set(f"order {shown.get('order') or '–'} · "
                            + ("–" if power is None else f"{power:.1f} kW"))
        elif cell.connectivity == "vendor" and not cell.report:
            self.big.set("adapter")
            self.caption.set("not on the UNS: its vendor's own interface, read by a "
                             "hand-written adapter")
        else:
            if ages:
                reported = cell.report.get("FiledAt") is not None
                self.big.set(age if reported else "never")
                self.caption.set("unknown to the factory: last shift report "
                                 + (f"{age} ago" if reported else "not filed yet"))
            self.detail.set("state and counts: the simulator's view")


class OeeBars:
    """The plant's OEE and its factors as bars (ISO 22400): the plant KPIs the bridge publishes
    on the UNS (`.../plant/kpi/OEE`), the simulator's measurement only while there are none."""

    ROWS = (("OEE", "OEE"), ("Availability", "Availability"), ("Performance", "Performance"),
            ("Quality", "Quality"))

    def __init__(self, plant: PlantState, pid: str) -> None:
        self.plant = plant
        self.bars: dict[str, tuple[ui.element, Text]] = {}
        self.widths: dict[str, int] = {}
        with Part().classes("gap-0 w-full"):
            self.title = Text(classes="hmi-title", test_id=testid("oee-source", pid))
            for label, name in self.ROWS:
                with ui.row().classes("items-center gap-2 w-full no-wrap"):
                    ui.label(label).classes("hmi-small w-20")
                    with ui.element("div").classes("hmi-bar grow"):
                        fill = ui.element("div")
                    self.bars[name] = (fill, Text(classes="hmi-small w-28",
                                                  test_id=testid("oee", pid, name)))

    def update(self) -> None:
        self.title.set("OEE (ISO 22400, " + ("the UNS's plant KPIs)" if self.plant.uns_kpis
                                             else "simulator's view)"))
        for name, (fill, text) in self.bars.items():
            share, was_over = capped(self.plant.plant_kpi(name))
            width = 0 if share is None else round(100 * share)
            if self.widths.get(name) != width:  # every style() call is sent to the browser
                self.widths[name] = width
                fill.style(replace=f"width:{width:d}%")  # an int from a clamped float
            text.set("–" if share is None else f"{100 * share:.1f} %"
                     + (" (capped)" if was_over else ""))


class AlarmList:
    """Active or unacknowledged alarms from the UNS; says why when there are none."""

    def __init__(self, dashboard: Dashboard, plant: PlantState, pid: str, on_ack) -> None:
        self.dashboard, self.plant, self.pid, self.on_ack = dashboard, plant, pid, on_ack
        self.key: tuple | None = None
        with Part().classes("gap-0 w-full"):
            ui.label("Alarms (from the UNS)").classes("hmi-title")
            self.box = mark(ui.column().classes("hmi-alarms gap-0 w-full"), testid("alarms", pid))

    def update(self) -> None:
        plant = self.plant
        alarms = sorted(plant.alarms.values(), key=lambda a: (a.acked, -a.severity, a.cell))
        online = any(c.is_live for c in plant.cells.values())
        key = (online, *((a.condition_id, a.event_id, a.active, a.acked) for a in alarms))
        if key == self.key:
            return
        self.key = key
        self.box.clear()
        cell_index = {name: i for i, name in enumerate(plant.cells)}
        with self.box:
            if not alarms:
                mark(ui.label(
                    "none active or unacknowledged" if online else
                    "empty because no cell of this plant is online: the factory learns of a "
                    "breakdown only when someone walks past or reads the shift report")
                    .classes("hmi-small hmi-muted"), testid("alarms-empty", self.pid))
            for index, alarm in enumerate(alarms[:50]):
                aid = testid(self.pid, slug(alarm.cell, cell_index.get(alarm.cell, 0)),
                             slug(alarm.name, index))
                with mark(ui.row().classes("items-center gap-2 hmi-small no-wrap w-full"),
                          testid("alarm", aid)):
                    ui.label(f"{alarm.cell} · {alarm.name} ({alarm.severity})").classes(
                        "hmi-alarm-active" if alarm.active else "hmi-alarm-cleared")
                    ui.label(alarm.message).classes("ellipsis grow")
                    ui.label(format_clock(alarm.time))
                    mark(ui.label(("active" if alarm.active else "cleared") + " · "
                                  + ("acknowledged" if alarm.acked else "unacknowledged")),
                         testid("ackstate", aid))
                    if not alarm.acked:
                        mark(ui.button("Ack", on_click=lambda a=alarm: self.on_ack(a))
                             .props("dense flat size=sm"), testid("ack", aid))
            if len(alarms) > 50:
                ui.label(f"and {len(alarms) - 50} more").classes("hmi-small hmi-muted")


class PlantPanel:
    """The plant's header, floor, OEE bars and alarms: what must fit a projector's screen."""

    def __init__(self, dashboard: Dashboard, plant: PlantState, pid: str, on_ack) -> None:
        self.dashboard, self.plant, self.pid = dashboard, plant, pid
        self.layout = CellsLayout(plant, self._draw_floor)
        self.tiles: list[Tile] = []
        with mark(Part().classes("hmi-panel gap-1 w-full"), testid("plant", pid)):
            with ui.row().classes("items-baseline gap-3 w-full no-wrap"):
                ui.label(plant.name).classes("hmi-plant whitespace-nowrap ellipsis min-w-0")
                self.level = Text(classes="hmi-mid whitespace-nowrap",
                                  test_id=testid("level", pid))
                self.clock = Text(classes="hmi-mid whitespace-nowrap ml-auto",
                                  test_id=testid("clock", pid))
            self.status = Text(classes="hmi-small hmi-muted", test_id=testid("status", pid))
            self.floor = ui.grid(columns=4).classes("w-full gap-1")
            with ui.grid(columns="minmax(0,1fr) minmax(0,1fr)").classes("w-full gap-3"):
                self.oee = OeeBars(plant, pid)
                self.alarms = AlarmList(dashboard, plant, pid, on_ack)

    def _draw_floor(self, cells: list[CellView]) -> None:
        self.floor.clear()
        with self.floor:
            self.tiles = [Tile(self.plant, self.pid, c, i) for i, c in enumerate(cells)]

    def update(self, ages: bool = True) -> None:
        """`ages`: the tiles' knowledge ages too (`Tile.update`)."""
        plant = self.plant
        cells = self.layout.cells()
        levels = sorted({c.connectivity for c in cells if c.connectivity})
        self.level.set(" + ".join(LEVEL_NAMES.get(level, "?") for level in levels) or "?")
        paused = {True: "paused", False: "running", None: "?"}[plant.paused]
        speed = "?" if plant.speed is None else f"{plant.speed:g}x"
        self.clock.set(format_clock(plant.clock))
        self.status.set(f"{paused} · {speed} · bridge {plant.bridge} · OPC UA "
                        f"{'connected' if plant.opcua_connected else 'connecting'}")
        for tile in self.tiles:
            redraw(f"tile {plant.name}/{tile.cell.name}", lambda t=tile: t.update(ages))
        redraw(f"OEE {plant.name}", self.oee.update)
        redraw(f"alarms {plant.name}", self.alarms.update)
