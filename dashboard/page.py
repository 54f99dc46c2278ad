"""The dashboard page (NiceGUI), laid out as a high-performance HMI (ISA-101): grey is normal,
colour marks only what needs attention, key figures are large.

The first screen (a 1280×720 projector) holds the controls, every plant's floor, OEE and
alarms, and the KPIs side by side; the details (what the factory knows per cell, the Pareto,
the state timelines, the OEE trend) follow below. Each browser gets its own page; a per-page
timer redraws the first screen's plants (floor, OEE, alarms) at most `FRAMES_PER_S` times a
second, and the slowly moving rest (the tiles' knowledge ages, the KPI tiles, the replay strip,
the details) at most once every `SLOW_EVERY_S`: every redraw costs the browser a frame, the
demo's largest cost. Each
part is a `Part`, so the browser re-renders only the parts that changed.
Everything taken from the simulator's own view is labelled so: the factory could not show it.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from nicegui import ui

from dashboard.comparison import KpiComparison, OeeTrend
from dashboard.plant_details import PlantDetails
from dashboard.plant_panel import PlantPanel
from dashboard.replay_strip import ReplayStrip
from dashboard.state import FRAMES_PER_S, SLOW_EVERY_S
from dashboard.widgets import STYLE, Part, Text, mark, redraw, slug

if TYPE_CHECKING:
    from dashboard.app import Dashboard

_logger = logging.getLogger(__name__)
SPEEDS = [30, 60, 120, 300, 600, 1200, 3000]
THEMES = {"dark": True, "light": False}


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
    """Pause, Resume and the speed (every plant at once), who is watching, the theme."""

    def __init__(self, dashboard: Dashboard, dark: bool) -> None:
        self.dashboard = dashboard
        self._shown: int | None = None  # the speed the servers said, highlighted
        operator = dashboard.may_act(ui.context.client.request.cookies)
        mark(ui.button("Pause", on_click=lambda: self._act("Pause", dashboard.pause_all))
             .props("unelevated color=grey-8"), "pause-all")
        mark(ui.button("Resume", on_click=lambda: self._act("Resume", dashboard.resume_all))
             .props("unelevated color=grey-8"), "resume-all")
        ui.label("speed ×").classes("hmi-small")
        self.speed = mark(ui.toggle(SPEEDS, on_change=self._speed)
                          .props("dense no-caps toggle-color=grey-9 text-color=grey-7"),
                          "speed")
        mark(ui.label("operator: you may act" if operator else "watching (read-only)")
             .classes("hmi-small"), "role")
        if not operator:
            mark(ui.link("operator login", "/login").classes("hmi-small"), "login")
        theme = ui.dark_mode(dark)
        mark(ui.button("dark/light", on_click=theme.toggle).props("flat dense no-caps"),
             "theme")

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
        """Highlight the speed the plants run at (the first plant's, as its server says)."""
        speeds = [p.speed for p in self.dashboard.plants.values() if p.speed is not None]
        value = int(speeds[0]) if speeds and speeds[0] in SPEEDS else None
        if value != self._shown:
            self._shown = value
            self.speed.set_value(value)


def build_page(dashboard: Dashboard, theme: str | None = None) -> None:
    """`theme`: "dark" or "light" (from the page's query; anything else: light)."""
    plants = list(dashboard.plants.values())
    pids = [slug(plant.name, index) for index, plant in enumerate(plants)]
    ui.page_title("factory-sim demo")
    ui.add_css(STYLE)
    with Part("row").classes("w-full items-center gap-2 no-wrap"):
        ui.label("factory-sim demo").classes("hmi-plant")
        controls = Controls(dashboard, THEMES.get(theme or "", False))
        counters = Text(classes="hmi-small hmi-muted ml-auto", test_id="uns-counters")

    async def ack(alarm, plant) -> None:
        if not refused_unless_operator(dashboard, "Acknowledge"):
            return
        try:
            await dashboard.links[plant.name].acknowledge(
                alarm.condition_id, alarm.event_id, "acknowledged from the demo dashboard")
        except Exception as exc:
            ui.notify(f"Acknowledge: {exc}", type="negative")

    columns = 1 if len(plants) == 1 else 2
    with ui.grid(columns=columns).classes("w-full gap-2"):
        panels = [PlantPanel(dashboard, plant, pid, lambda a, p=plant: ack(a, p))
                  for plant, pid in zip(plants, pids, strict=True)]
    comparison = KpiComparison(plants, pids)
    replay = ReplayStrip(dashboard.replay)
    with ui.grid(columns=columns).classes("w-full gap-2"):
        details = [PlantDetails(plant, pid) for plant, pid in zip(plants, pids, strict=True)]
    trend = OeeTrend(plants, pids)
    versions = [-1]
    slow = {"due": 0.0, "stale": False}

    def refresh() -> None:
        total = sum(p.version for p in plants)
        changed = total != versions[0]
        if changed:
            versions[0] = total
            slow["stale"] = True
        now = time.monotonic()
        slow_now = slow["stale"] and now >= slow["due"]
        if changed or slow_now:
            for panel in panels:
                panel.update(ages=slow_now)
            redraw("speed", controls.show_speed)
            dashboard.pushed()
        if slow_now:
            slow["due"], slow["stale"] = now + SLOW_EVERY_S, False
            redraw("side by side", comparison.update)
            for part in details:
                part.update()
            redraw("OEE trend", trend.update)
            redraw("replay", replay.update)
            uns = dashboard.uns
            counters.set(f"UNS: {uns.received:,} messages · {uns.rejected:,} rejected · "
                         f"{uns.overflowed:,} dropped (inbox full)")

    ui.timer(1.0 / FRAMES_PER_S, refresh)
