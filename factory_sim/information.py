"""What the planner learns of each cell, and when: the consequence of connectivity.

A live cell (OPC UA, unified, or a vendor interface somebody mapped) tells the planner
about every state change within its publishing or polling interval. Any other cell is known
only through the operator's paper shift report at shift end: counts with transcription
errors, downtime without most short stops. Every `PlannerInformed` event says when the
planner learned of a change that happened earlier; `ShiftReportFiled` says what the report
claimed beside what really happened.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from factory_sim.events import PlannerInformed, ShiftReportFiled
from factory_sim.states import Activity, TimeCategory

if TYPE_CHECKING:
    from factory_sim.cell import Cell
    from factory_sim.plant import Plant


class InformationFlow:
    def __init__(self, plant: Plant, line_name: str):
        self._env = plant.env
        self._publish = plant.bus.publish
        self._spec = plant.scenario.information
        self._rng = plant.streams.get("reports", line_name)
        self._unreported: dict[str, list[tuple[Activity, float]]] = {}
        self._news: dict[str, list[Callable[[], None]]] = {}
        self._last_report: dict[str, tuple[int, int, float, float]] = {}

    def state_changed(self, cell: Cell, activity: Activity, at: float) -> None:
        if cell.live_delay is None:
            self._unreported.setdefault(cell.id, []).append((activity, at))
            return
        publish = self._publish
        cell_id = cell.id
        timer = self._env.timeout(cell.live_delay)
        timer.callbacks.append(
            lambda event: publish(PlannerInformed(event.env.now, cell_id, activity, at)))

    def tell_planner(self, cell: Cell, news: Callable[[], None]) -> None:
        """Let the planner act on news from `cell` (an order it finished) once it knows."""
        if cell.live_delay is None:
            self._news.setdefault(cell.id, []).append(news)
        else:
            self._env.timeout(cell.live_delay).callbacks.append(lambda _event: news())

    def file_shift_reports(self, cells: list[Cell], shift_start: float) -> None:
        """Shift end: every cell that is not live gets its paper report."""
        now = self._env.now
        rng = self._rng
        error = self._spec.report_error
        short_stop_reported = self._spec.short_stop_reported
        for cell in cells:
            if cell.live_delay is not None:
                continue
            times = cell.state_times()
            down = sum(t for a, t in times.items() if a.category is TimeCategory.DOWN)
            short = times[Activity.SHORT_STOP]
            last_good, last_scrap, last_down, last_short = self._last_report.get(
                cell.id, (0, 0, 0.0, 0.0))
            self._last_report[cell.id] = (cell.good, cell.scrap, down, short)
            good, scrap = cell.good - last_good, cell.scrap - last_scrap
            down_shift, short_shift = down - last_down, short - last_short
            changes = self._unreported.pop(cell.id, [])
            stops = reported_stops = 0
            for activity, at in changes:
                if activity is Activity.SHORT_STOP:
                    stops += 1
                    if rng.random() >= short_stop_reported:
                        continue
                    reported_stops += 1
                self._publish(PlannerInformed(now, cell.id, activity, at))
            # Short stops nobody wrote down are missing from the reported downtime.
            seen = down_shift + (short_shift * reported_stops / stops if stops else 0.0)
            self._publish(ShiftReportFiled(
                now, cell.id, shift_start,
                _transcribe(rng, good, error), _transcribe(rng, scrap, error),
                round(seen * max(0.0, rng.gauss(1.0, error))),
                good, scrap, down_shift + short_shift,
            ))
            for news in self._news.pop(cell.id, []):
                news()


def _transcribe(rng, count: int, error: float) -> int:
    """A count as an operator writes it down at shift end: usually right, sometimes off."""
    return max(0, round(count * rng.gauss(1.0, error)))
