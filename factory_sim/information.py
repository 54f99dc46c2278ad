"""What the plant (planner, maintenance) learns of each cell, and when: the consequence of
connectivity.

A live cell (OPC UA, unified, or a vendor interface somebody mapped) tells the plant about
every state change within its publishing or polling interval. Any other cell is known only
through the operator's paper shift report at shift end: counts with transcription errors,
downtime without most short stops. Every `PlannerInformed` event says when the plant learned
of a change that happened earlier; `ShiftReportFiled` says what the report claimed beside
what really happened. `believed_down` holds the cells the plant believes down, which is what
release and dispatch act on: as fresh as each cell's connectivity allows.

While the network is down (`factory_sim.network`) a live cell's changes are held: the plant
learns them from the paper shift report if a shift ends first (as of a stand-alone cell), and
what is left when the network comes back is forwarded then (the server's history, the
bridge's buffer).
"""

from __future__ import annotations

from typing import Protocol

import simpy

from factory_sim.coupling import Coupling
from factory_sim.events import PlannerInformed, ShiftReportFiled
from factory_sim.network import Network
from factory_sim.random_streams import RandomStreams
from factory_sim.scenario import InformationSpec
from factory_sim.states import Activity, TimeCategory


class ReportingCell(Protocol):
    id: str
    coupling: Coupling
    good: int
    scrap: int

    def state_times(self) -> dict[Activity, float]: ...


class InformationFlow:
    def __init__(self, env: simpy.Environment, publish, spec: InformationSpec,
                 streams: RandomStreams, line_name: str, names: dict[str, str]):
        self._env = env
        self._publish = publish
        self._spec = spec
        self._rng = streams.get("reports", line_name)
        self._unreported: dict[str, list[tuple[Activity, float]]] = {}
        self._last_report: dict[str, tuple[int, int, float, float]] = {}
        self._names = names  # cell id -> cell name
        self.believed_down: set[str] = set()  # names of the cells the plant believes down
        self.network: Network | None = None  # None: never down
        self._held: set[str] = set()  # live cells whose changes wait for the network

    def state_changed(self, cell_id: str, live_delay: float | None, activity: Activity,
                      at: float) -> None:
        if live_delay is not None and self.network is not None and not self.network.up:
            self._held.add(cell_id)
            live_delay = None
        if live_delay is None:
            self._unreported.setdefault(cell_id, []).append((activity, at))
            return
        timer = self._env.timeout(live_delay)
        timer.callbacks.append(lambda event: self._learn(event.env.now, cell_id, activity, at))

    def _learn(self, now: float, cell_id: str, activity: Activity, at: float) -> None:
        if activity.is_down:
            self.believed_down.add(self._names[cell_id])
        else:
            self.believed_down.discard(self._names[cell_id])
        self._publish(PlannerInformed(now, cell_id, activity, at))

    def network_changed(self, up: bool) -> None:
        """The network is back: forward what was held (in order, learned now)."""
        if not up:
            return
        now = self._env.now
        for cell_id in sorted(self._held):
            for activity, at in self._unreported.pop(cell_id, []):
                self._learn(now, cell_id, activity, at)
        self._held.clear()

    def file_shift_reports(self, cells: list[ReportingCell], shift_start: float) -> None:
        """Shift end: every cell that is not live gets its paper report, and so does a live
        one whose changes the network holds."""
        now = self._env.now
        rng = self._rng
        error = self._spec.report_error
        short_stop_reported = self._spec.short_stop_reported
        for cell in cells:
            times = cell.state_times()
            if cell.coupling.live and cell.id not in self._held:
                down = sum(t for a, t in times.items() if a.category is TimeCategory.DOWN)
                self._last_report[cell.id] = (cell.good, cell.scrap, down,
                                              times[Activity.SHORT_STOP])
                continue
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
                self._learn(now, cell.id, activity, at)
            # Short stops nobody wrote down are missing from the reported downtime.
            seen = down_shift + (short_shift * reported_stops / stops if stops else 0.0)
            self._publish(ShiftReportFiled(
                now, cell.id, shift_start,
                _transcribe(rng, good, error), _transcribe(rng, scrap, error),
                round(seen * max(0.0, rng.gauss(1.0, error))),
                good, scrap, down_shift + short_shift,
            ))


def _transcribe(rng, count: int, error: float) -> int:
    """A count as an operator writes it down at shift end: usually right, sometimes off."""
    return max(0, round(count * rng.gauss(1.0, error)))


__all__ = ["InformationFlow", "ReportingCell"]
