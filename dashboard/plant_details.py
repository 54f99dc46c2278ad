"""A plant's details below the overview: what the factory knows against the truth, per cell;
where the time went (Pareto, from the UNS only); the state timeline of the last shift."""

from __future__ import annotations

import time

from nicegui import ui

from dashboard.job_queue_view import JobQueueView
from dashboard.state import ANDON, UNKNOWN_COLOUR, CellView, PlantState, format_age, format_clock
from dashboard.widgets import CellsLayout, Part, Text, mark, redraw, slug, testid

TIMELINE_RECT = """function (params, api) {
  var row = api.value(0);
  var from = api.coord([api.value(1), row]), to = api.coord([api.value(2), row]);
  var height = api.size([0, 1])[1] * 0.6;
  return {type: 'rect', style: api.style(), shape: {x: from[0], y: from[1] - height / 2,
          width: Math.max(to[0] - from[0], 1), height: height}};
}"""


CHART_EVERY_S = 10.0  # a chart redraw costs the browser more than all the labels


def _known(value) -> str:
    return "?" if not isinstance(value, int | float) else f"{value:.0f}"


def _minutes(seconds) -> str:
    return "?" if not isinstance(seconds, int | float) else f"{seconds / 60:.0f} min"


class KnowledgeTable:
    """Per cell: the factory's value, how old it is, and the truth (the simulator's view)."""

    def __init__(self, plant: PlantState, pid: str) -> None:
        self.plant, self.pid = plant, pid
        self.rows: dict[str, tuple[Text, Text, Text]] = {}
        ui.label("What the factory knows, and what is true").classes("hmi-title")
        self.grid = ui.grid(columns="auto minmax(0,3fr) auto minmax(0,3fr)") \
            .classes("w-full gap-x-3 gap-y-0 hmi-small")

    def rebuild(self, cells: list[CellView]) -> None:
        self.grid.clear()
        self.rows = {}
        with self.grid:
            for title in ("cell", "the factory knows", "its age", "true (simulator's view)"):
                ui.label(title).classes("font-bold")
            for index, cell in enumerate(cells):
                cid = testid(self.pid, slug(cell.name, index))
                ui.label(cell.name)
                self.rows[cell.name] = (Text(test_id=testid("knowledge", cid)),
                                        Text(classes="hmi-mid", test_id=testid("age", cid)),
                                        Text(test_id=testid("truth", cid)))

    def update(self) -> None:
        for cell in self.plant.ordered_cells():
            known, age, truth = self.rows.get(cell.name, (None, None, None))
            if known is not None:
                redraw(f"knowledge {self.plant.name}/{cell.name}",
                       lambda c=cell, k=known, a=age, t=truth: self._row(c, k, a, t))

    def _row(self, cell: CellView, known: Text, age: Text, truth: Text) -> None:
        actual = cell.truth
        now = f"{actual.get('state') or '?'} ({actual.get('activity') or '?'})"
        age.set(format_age(self.plant.knowledge_age_s(cell)))
        if cell.is_live:
            known.set(f"live on the UNS: {cell.live.get('state') or '?'} "
                      f"({cell.live.get('activity') or '?'}), good {_known(cell.live.get('good'))}")
            truth.set(f"{now}, good {_known(actual.get('good'))}")
            return
        report = cell.report
        shift = (f"shift so far: good {_known(actual.get('shift_good'))}, scrap "
                 f"{_known(actual.get('shift_scrap'))}, downtime "
                 f"{_minutes(actual.get('shift_downtime_s'))} · now {now}")
        truth.set(shift)
        if cell.connectivity == "vendor" and not report:
            known.set("vendor interface only: a hand-written adapter, not on the UNS")
        elif report.get("FiledAt") is None:
            known.set("nothing yet: no paper shift report so far")
        else:
            known.set(f"shift report filed {format_clock(report['FiledAt'])}: good "
                      f"{_known(report.get('GoodReported'))}, scrap "
                      f"{_known(report.get('ScrapReported'))}, "
                      f"downtime {_minutes(report.get('DowntimeReported'))}")


class Pareto:
    def __init__(self, plant: PlantState, pid: str) -> None:
        self.plant = plant
        ui.label("Downtime Pareto (from the UNS: only what the factory saw)") \
            .classes("hmi-title")
        self.text = Text(classes="hmi-small", test_id=testid("pareto", pid))

    def update(self) -> None:
        self.text.set(", ".join(f"{activity} {seconds / 3600:.1f} h"
                                for activity, seconds in self.plant.pareto()[:6])
                      or "nothing: no cell of this plant is on the UNS")


class StateTimeline:
    """MachineryItemState per cell over the last simulated shift (ECharts custom series)."""

    def __init__(self, plant: PlantState, pid: str) -> None:
        self.plant = plant
        self._due = 0.0
        self._height = 0
        ui.label("State timeline, last 8 simulated hours").classes("hmi-title")
        self.chart = mark(ui.echart({
            "animation": False,
            "grid": {"top": 5, "left": 130, "right": 15, "bottom": 38},
            "xAxis": {"type": "time", "name": "simulated time", "nameLocation": "middle",
                      "nameGap": 22, "axisLabel": {"formatter": "{HH}:{mm}"}},
            "yAxis": {"type": "category", "data": [], "inverse": True},
            "series": [{"type": "custom", ":renderItem": TIMELINE_RECT,
                        "encode": {"x": [1, 2], "y": 0}, "data": []}],
        }).classes("w-full"), testid("timeline", pid))
        ui.label("mid grey: executing · light grey: not executing (waiting, set-up) · red: out "
                 "of service · black: not available (off shift) · (sim): the simulator's view")\
            .classes("hmi-small hmi-muted")

    def update(self) -> None:
        now = time.monotonic()
        plant = self.plant
        if now < self._due or plant.clock is None:
            return
        cells = plant.ordered_cells()
        # A hundred cells' rectangles cost the browser more than the rest of the page.
        self._due = now + max(CHART_EVERY_S, len(cells) / 25)
        data = []
        for row, cell in enumerate(cells):
            for start, end, state in cell.segments(plant.clock):
                data.append({"value": [row, start.timestamp() * 1000, end.timestamp() * 1000],
                             "itemStyle": {"color": ANDON.get(state, UNKNOWN_COLOUR)}})
        self.chart.options["yAxis"]["data"] = [
            c.name if c.is_live else f"{c.name} (sim)" for c in cells]
        height = 50 + 22 * len(cells)
        if height != self._height:
            self._height = height
            self.chart.style(replace=f"height:{height:d}px")
        self.chart.options["series"][0]["data"] = data
        self.chart.update()


class PlantDetails:
    def __init__(self, plant: PlantState, pid: str) -> None:
        self.plant = plant
        with mark(Part().classes("hmi-panel hmi-below gap-1 w-full"), testid("details", pid)):
            ui.label(plant.name).classes("hmi-mid")
            self.knowledge = KnowledgeTable(plant, pid)
            self.pareto = Pareto(plant, pid)
            self.timeline = StateTimeline(plant, pid)
            self.jobs = JobQueueView(plant.jobs, pid)
        self.layout = CellsLayout(plant, self.knowledge.rebuild)

    def update(self) -> None:
        plant = self.plant
        self.layout.cells()
        self.knowledge.update()
        redraw(f"Pareto {plant.name}", self.pareto.update)
        redraw(f"timeline {plant.name}", self.timeline.update)
        redraw(f"jobs {plant.name}", self.jobs.update)
