"""The replay strip: the same plants, scenario and seed run four simulated weeks ahead at
start-up (by the command line, from the same model), so the class sees at once where the live
plants are heading. The figures come as a JSON file (`--replay FILE`), read once it appears
and validated like any other input.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

from nicegui import ui
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dashboard.widgets import Part, Text, mark, testid

_logger = logging.getLogger(__name__)
MAX_REPLAY_BYTES = 1_000_000
Share = Annotated[float, Field(ge=0, le=1)] | None
Figure = Annotated[float, Field(ge=0, allow_inf_nan=False)] | None


class ReplayDay(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    day: Annotated[int, Field(ge=1, le=366)]
    oee: Share = None
    good_parts: Annotated[int, Field(ge=0)] = 0
    on_time_in_full: Share = None
    lead_time_h: Figure = None
    mttr_min: Figure = None
    detection_min: Figure = None


class ReplayPlant(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    name: Annotated[str, Field(max_length=100)]
    days: Annotated[list[ReplayDay], Field(min_length=1, max_length=366)]


class Replay(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    seed: int
    days: Annotated[int, Field(ge=1, le=366)]
    plants: Annotated[list[ReplayPlant], Field(min_length=1, max_length=4)]


class ReplaySource:
    """The replay file, read once it is there (the command line writes it while the demo
    starts); a bad file is logged once and the strip says it has no replay."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.replay: Replay | None = None
        self.problem: str | None = None if path is not None else "no replay for this demo"

    def get(self) -> Replay | None:
        if self.replay is None and self.problem is None and self.path.exists():
            try:
                if self.path.stat().st_size > MAX_REPLAY_BYTES:
                    raise ValueError(f"larger than {MAX_REPLAY_BYTES} bytes")
                self.replay = Replay.model_validate_json(self.path.read_bytes())
            except (OSError, ValueError, ValidationError) as exc:
                self.problem = f"replay {self.path}: {str(exc).splitlines()[0]}"
                _logger.warning("%s", self.problem)
        return self.replay


def _figure(value, unit: str, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}{unit}"


HEADLINES = [  # (label, field, format)
    ("on-time in full", "on_time_in_full", lambda v: _figure(None if v is None else 100 * v,
                                                             " %")),
    ("lead time, mean", "lead_time_h", lambda v: _figure(v, " h")),
    ("MTTR", "mttr_min", lambda v: _figure(v, " min")),
    ("breakdown noticed after", "detection_min", lambda v: _figure(v, " min")),
    ("OEE", "oee", lambda v: _figure(None if v is None else 100 * v, " %")),
    ("good parts", "good_parts", lambda v: _figure(v, "", 0)),
]


class ReplayStrip:
    def __init__(self, source: ReplaySource) -> None:
        self.source = source
        self.drawn = False
        with mark(Part().classes("hmi-panel gap-1 w-full"), "replay"):
            self.title = Text("Four weeks ahead: computing the same plants and seed…",
                              classes="hmi-title", test_id="replay-title")
            with ui.row().classes("w-full no-wrap items-start gap-2"):
                self.figures = ui.grid(columns=len(HEADLINES)).classes("gap-1 grow")
                self.chart = ui.echart({
                    "animation": False, "tooltip": {"trigger": "axis"},
                    "legend": {"bottom": 0, "left": "center", "itemGap": 6,
                               "textStyle": {"fontSize": 11}},
                    "grid": {"top": 28, "left": 45, "right": 10, "bottom": 75},
                    "xAxis": {"type": "value", "name": "simulated day", "min": 1,
                              "nameLocation": "middle", "nameGap": 22},
                    "yAxis": {"type": "value", "name": "on-time in full [%]"},
                    "series": [],
                }).classes("w-96 h-48")

    def update(self) -> None:
        if self.drawn:
            return
        replay = self.source.get()
        if replay is None:
            if self.source.problem:
                self.title.set(f"Four weeks ahead: {self.source.problem}")
            return
        self.drawn = True
        self.title.set(f"Four weeks ahead: the same plants, seed {replay.seed}, simulated "
                       f"{replay.days} days at start-up (figures accumulated since day 1)")
        with self.figures:
            for label, name, fmt in HEADLINES:
                with ui.column().classes("hmi-tile gap-0"):
                    ui.label(f"after {replay.days} days: {label}").classes(
                        "hmi-small hmi-muted")
                    for index, plant in enumerate(replay.plants):
                        with ui.row().classes("items-baseline gap-1 no-wrap w-full"):
                            Text(fmt(getattr(plant.days[-1], name)),
                                 classes="hmi-mid whitespace-nowrap",
                                 test_id=testid("replay", str(index), name))
                            ui.label(plant.name).classes("hmi-small hmi-muted ellipsis min-w-0")
        self.chart.options["series"] = [
            {"name": plant.name, "type": "line", "showSymbol": False,
             "data": [[d.day, None if d.on_time_in_full is None
                       else round(100 * d.on_time_in_full, 1)] for d in plant.days]}
            for plant in replay.plants]
        self.chart.update()
