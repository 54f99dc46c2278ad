"""What the dashboard knows of each plant, kept apart by where it came from.

Two sources, never mixed up:
- the **factory's knowledge**: the unified namespace on MQTT (`CellView.live`, `alarms`), and
  the paper shift reports typed into the office system (`CellView.report`, over OPC UA);
- the **simulator's own view** (`CellView.truth`, `PlantState.true_kpis`): what really
  happens, from Objects/SimulatorView, shown to the class beside what the factory knows.

Updates arrive from the MQTT thread and the OPC UA clients; each bumps `version`, and the page
redraws at most `FRAMES_PER_S` times a second when it changed.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dashboard.job_queue import JobQueue
from dashboard.uns_messages import (
    PLANT_KPIS,
    UNS_TAGS,
    AlarmEvent,
    BridgeStatus,
    JobEvent,
    JobOrderList,
    RejectedMessage,
    TagValue,
    is_plant_kpi,
)

FRAMES_PER_S = 5  # the browser's CPU is the demo's largest cost (benchmarks/demo_load.py)
SLOW_EVERY_S = 1.0  # the KPI tiles side by side, the replay strip, the details below
TREND_WINDOW_S = 8 * 3600.0  # the last simulated shift
TIMELINE_WINDOW_S = 8 * 3600.0
MAX_CELLS = 500  # a plant's cells (`--lines 25` has 100); more are rejected, not drawn
MAX_CELL_NAME = 100
MAX_ALARMS = 500  # alarms listed a plant

# Timeline colours by OPC 40001-1 MachineryItemState, ISA-101 style: greys for normal,
# red only for the abnormal.
ANDON = {
    "Executing": "#7d7d7d",  # producing
    "NotExecuting": "#c4c4c4",  # ready, waiting, stopped
    "OutOfService": "#c62828",  # failed, in repair or maintenance
    "NotAvailable": "#3a3a3a",  # off shift, break
}
UNKNOWN_COLOUR = "#e3e3e3"
DOWN_ACTIVITIES = ("failed", "repair", "maintenance", "setup", "short_stop", "starved",
                   "blocked", "waiting_operator", "stopped")

# SimulatorView/Cells/<cell>/<name> -> CellView.truth key
TRUTH_NAMES = {"ItemState": "state", "OperationMode": "mode", "Activity": "activity",
               "OrderId": "order", "GoodParts": "good", "ScrapParts": "scrap", "Power": "power",
               "Buffer": "buffer", "ActiveAlarm": "alarm", "OEE": "oee",
               "Availability": "availability", "Performance": "performance",
               "Quality": "quality", "ShiftGoodActual": "shift_good",
               "ShiftScrapActual": "shift_scrap", "ShiftDowntimeActual": "shift_downtime_s"}


def _append_change(timeline: deque, when: datetime, state: Any) -> None:
    """Keep the changes of the last window (and the one before it, which opens the window)."""
    timeline.append((when, state))
    while len(timeline) > 2 and (when - timeline[1][0]).total_seconds() > TIMELINE_WINDOW_S:
        timeline.popleft()


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass
class CellView:
    name: str
    position: int = 10_000  # routing order, from the simulator view's layout
    kind: str = ""
    connectivity: str = ""
    buffer_capacity: int | None = None
    live: dict[str, Any] = field(default_factory=dict)  # the unified namespace
    live_at: datetime | None = None  # source time (plant clock) of its newest value
    truth: dict[str, Any] = field(default_factory=dict)  # the simulator's own view
    report: dict[str, Any] = field(default_factory=dict)  # the last paper shift report
    # from the UNS Activity: (activity, since) and seconds per activity, for the Pareto
    _activity: tuple[str, datetime] | None = None
    activity_seconds: dict[str, float] = field(default_factory=dict)
    # (plant time, MachineryItemState) changes, for the state timeline: from the UNS, and
    # from the simulator's view (shown only for cells that are not on the UNS)
    timeline: deque = field(default_factory=lambda: deque(maxlen=2000))
    truth_timeline: deque = field(default_factory=lambda: deque(maxlen=2000))

    @property
    def is_live(self) -> bool:
        """Does the factory see this cell online (it has published on the UNS)?"""
        return bool(self.live)

    def shown(self) -> dict[str, Any]:
        """What the floor tile shows: the UNS for a live cell, else the simulator's truth."""
        return self.live if self.is_live else self.truth

    def segments(self, until: datetime, window_s: float = TIMELINE_WINDOW_S
                 ) -> list[tuple[datetime, datetime, str]]:
        """(from, to, MachineryItemState) over the last `window_s` plant seconds."""
        changes = list(self.timeline if self.is_live else self.truth_timeline)
        start = until.timestamp() - window_s
        result = []
        for (when, state), following in zip(changes, [*changes[1:], (until, None)],
                                            strict=True):
            end = following[0]
            if end.timestamp() > start and end > when:
                result.append((max(when, datetime.fromtimestamp(start, UTC)), end, state))
        return result


@dataclass
class Alarm:
    condition_id: str
    cell: str
    name: str
    message: str
    severity: int
    time: datetime | None
    active: bool
    acked: bool
    retain: bool
    event_id: str  # hex, as the bridge publishes it; Acknowledge needs the newest one


@dataclass
class PlantState:
    name: str
    endpoint: str
    cells: dict[str, CellView] = field(default_factory=dict)
    alarms: dict[str, Alarm] = field(default_factory=dict)
    jobs: JobQueue = field(default_factory=JobQueue)  # each cell's job orders, from the UNS
    true_kpis: dict[str, float] = field(default_factory=dict)
    uns_kpis: dict[str, float | None] = field(default_factory=dict)  # .../plant/kpi/<name>
    clock: datetime | None = None  # Simulation/SimulatedClock
    speed: float | None = None
    paused: bool | None = None
    bridge: str = "unknown"
    opcua_connected: bool = False
    oee_trend: deque = field(default_factory=lambda: deque(maxlen=5000))  # (clock, OEE)
    version: int = 0
    layout: int = 0  # bumped when a cell appears or moves in the routing order
    _ordered: tuple[int, list[CellView]] = field(default=(-1, []), repr=False)
    # serverTimestamps of UNS values not yet pushed to a browser (latency measurement)
    unpushed: list[datetime] = field(default_factory=list)

    def cell(self, name: str) -> CellView:
        view = self.cells.get(name)
        if view is None:
            if len(self.cells) >= MAX_CELLS or not 0 < len(name) <= MAX_CELL_NAME:
                raise RejectedMessage(f"cell {name[:40]!r}: a name of 1 to {MAX_CELL_NAME} "
                                      f"characters expected, at most {MAX_CELLS} cells a plant")
            view = self.cells[name] = CellView(name)
            self.layout += 1
        return view

    def ordered_cells(self) -> list[CellView]:
        """The cells in routing order (sorted again only after `layout` changed)."""
        if self._ordered[0] != self.layout:
            self._ordered = (self.layout, sorted(self.cells.values(),
                                                 key=lambda c: (c.position, c.name)))
        return self._ordered[1]

    # ---- the unified namespace ----
    def apply_uns(self, path: list[str],
                  message: TagValue | AlarmEvent | JobEvent | JobOrderList | BridgeStatus,
                  fresh: bool = True) -> None:
        """One validated MQTT message below the plant's prefix (`dashboard.uns_messages`):
        `path` is the topic's levels after the prefix. `fresh`: not a retained value replayed
        at subscription (those do not count for latency). Raises RejectedMessage for a value
        of the wrong type for its tag, before anything is changed."""
        if isinstance(message, BridgeStatus):
            self.bridge = message.status
        elif isinstance(message, AlarmEvent):
            self._apply_alarm(path[4], message)
        elif isinstance(message, JobEvent):
            self.jobs.apply(path[4], message)
        elif isinstance(message, JobOrderList):
            if message.gap is not None or message.value is None:
                return
            self.jobs.apply_list(path[4], message.value, message.sourceTimestamp)
        elif isinstance(message, TagValue) and is_plant_kpi(path):
            if message.gap is not None:
                return
            self._apply_plant_kpi(path[6], message.checked(float), message, fresh)
        elif isinstance(message, TagValue) and len(path) == 7:
            known = UNS_TAGS.get((path[5], path[6]))
            if known is None or message.gap is not None:
                return
            key, kind = known
            self._apply_value(path[4], key, message.checked(kind), message, fresh)
        else:
            return
        self.version += 1

    def _apply_value(self, cell_name: str, key: str, value: Any, message: TagValue,
                     fresh: bool) -> None:
        cell = self.cell(cell_name)
        cell.live[key] = value
        when = message.sourceTimestamp
        if when is not None and (cell.live_at is None or when > cell.live_at):
            cell.live_at = when
        if message.serverTimestamp is not None and fresh:
            self.unpushed.append(message.serverTimestamp)
        if key == "activity" and when is not None and isinstance(value, str):
            if cell._activity is not None:
                previous, since = cell._activity
                seconds = (when - since).total_seconds()
                if seconds > 0:
                    cell.activity_seconds[previous] = (
                        cell.activity_seconds.get(previous, 0.0) + seconds)
            cell._activity = (value, when)
        elif key == "state" and when is not None:
            _append_change(cell.timeline, when, value)

    def _apply_plant_kpi(self, name: str, value: float | None, message: TagValue,
                         fresh: bool) -> None:
        if value is not None and not 0.0 <= value <= 1.0:
            raise RejectedMessage(f"value: a fraction 0..1 expected for {name}, got {value!r}"
                                  [:200])
        if not self.uns_kpis:
            self.oee_trend.clear()  # the trend follows one source, the UNS from now on
        self.uns_kpis[name] = value
        if message.serverTimestamp is not None and fresh:
            self.unpushed.append(message.serverTimestamp)
        when = message.sourceTimestamp or self.clock
        if name == "OEE" and value is not None and when is not None:
            self._add_to_trend(when, value)

    def plant_kpi(self, name: str) -> float | None:
        """OEE, Availability, ... as the bridge publishes them on the UNS (the plant's own
        Objects/Plant/Kpi); while it publishes none, the simulator's measurement; other
        figures (Throughput, MTTR, ...) always the simulator's."""
        if name in PLANT_KPIS and self.uns_kpis:
            return self.uns_kpis.get(name)
        return self.true_kpis.get(name)

    def _add_to_trend(self, when: datetime, oee: float) -> None:
        trend = self.oee_trend
        if trend and when < trend[-1][0]:
            return  # a value replayed after a newer one (a retained message, a backfill)
        trend.append((when, oee))
        while trend and (when - trend[0][0]).total_seconds() > TREND_WINDOW_S:
            trend.popleft()

    def _apply_alarm(self, cell_name: str, event: AlarmEvent) -> None:
        fields = event.fields
        alarm = Alarm(
            condition_id=fields.ConditionId, cell=self.cell(cell_name).name,
            name=fields.ConditionName,
            message=event.message, severity=event.severity, time=event.time,
            active=fields.ActiveState, acked=fields.AckedState, retain=fields.Retain,
            event_id=fields.EventId,
        )
        if alarm.condition_id not in self.alarms and len(self.alarms) >= MAX_ALARMS:
            raise RejectedMessage(f"alarms: at most {MAX_ALARMS} listed a plant")
        if alarm.active or not alarm.acked:
            self.alarms[alarm.condition_id] = alarm
        else:  # inactive and acknowledged: the condition is done with
            self.alarms.pop(alarm.condition_id, None)

    # ---- the simulator's own view and the office system, over OPC UA ----
    def apply_opcua(self, key: tuple[str, ...], value: Any, when: datetime | None = None
                    ) -> None:
        """`key`: ("cell", cell, name) | ("report", cell, name) | ("kpi", name) |
        ("simulation", name), as `dashboard.opcua_link` subscribes them."""
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        kind = key[0]
        if kind == "cell":
            cell = self.cell(key[1])
            name = key[2]
            if name == "Position":
                if int(value) != cell.position:
                    cell.position = int(value)
                    self.layout += 1
            elif name == "Kind":
                cell.kind = str(value)
            elif name == "Connectivity":
                cell.connectivity = str(value)
            elif name == "BufferCapacity":
                cell.buffer_capacity = value
            elif name in TRUTH_NAMES:
                cell.truth[TRUTH_NAMES[name]] = value
                if name == "ItemState" and when is not None and value is not None:
                    _append_change(cell.truth_timeline, _aware(when), value)
        elif kind == "report":
            self.cell(key[1]).report[key[2]] = value
        elif kind == "kpi":
            self.true_kpis[key[1]] = value
            if key[1] == "OEE" and value is not None and self.clock is not None \
                    and not self.uns_kpis:
                self._add_to_trend(self.clock, value)
        elif kind == "simulation":
            if key[1] == "SimulatedClock" and isinstance(value, datetime):
                self.clock = value if value.tzinfo else value.replace(tzinfo=UTC)
            elif key[1] == "Speed":
                self.speed = value
            elif key[1] == "Paused":
                self.paused = value
        self.version += 1

    # ---- figures the page shows ----
    def knowledge_age_s(self, cell: CellView) -> float | None:
        """How old the factory's picture of the cell is, in plant seconds."""
        if self.clock is None:
            return None
        if cell.is_live:
            known = cell.live_at
        else:
            known = cell.report.get("FiledAt")
            if isinstance(known, datetime) and known.tzinfo is None:
                known = known.replace(tzinfo=UTC)
        if not isinstance(known, datetime):
            return None
        return max(0.0, (self.clock - known).total_seconds())

    def pareto(self) -> list[tuple[str, float]]:
        """Plant seconds lost per activity, from the UNS (live cells), largest first."""
        totals: dict[str, float] = {}
        for cell in self.cells.values():
            for activity, seconds in cell.activity_seconds.items():
                if activity in DOWN_ACTIVITIES:
                    totals[activity] = totals.get(activity, 0.0) + seconds
        return sorted(totals.items(), key=lambda item: -item[1])

    def take_unpushed(self) -> list[datetime]:
        stamps, self.unpushed = self.unpushed, []
        return stamps


def format_clock(when: datetime | None) -> str:
    """A plant time as a weekday and time of day, "–" if none."""
    return "–" if when is None else when.strftime("%a %H:%M")


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

