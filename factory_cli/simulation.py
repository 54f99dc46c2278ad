"""Running a scenario as fast as possible and accounting its KPIs: shared by `run` and `compare`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from factory_sim.event_log import EventLog
from factory_sim.kpi import KpiAccounting, KpiReport
from factory_sim.plant import Plant
from factory_sim.scenario import Scenario

# The run advances in this many steps, so the progress bar moves smoothly at any duration.
STEPS = 200


@dataclass(frozen=True)
class SimulationResult:
    scenario: str
    seed: int
    duration_s: float
    report: KpiReport
    events: int  # events published by the model

    def as_dict(self) -> dict:
        return {"scenario": self.scenario, "seed": self.seed, "duration_s": self.duration_s,
                "events": self.events, **self.report.as_dict()}


def simulate(
    scenario: Scenario,
    *,
    seed: int | None = None,
    duration: float | None = None,
    events_path: Path | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> SimulationResult:
    """Run `scenario` for `duration` simulated seconds (default: the scenario's own).

    `seed` overrides the scenario's seed; `events_path` receives the event log (JSON Lines);
    `on_progress(simulated_seconds)` is called as the run advances.
    """
    duration = scenario.duration if duration is None else duration
    seed = scenario.seed if seed is None else seed
    plant = Plant(scenario, seed=seed)
    kpis = KpiAccounting(plant.planned_cycle_time, cells=plant.cells)
    counter = _Counter()
    plant.subscribe(counter)
    plant.subscribe(kpis)
    log = EventLog(events_path) if events_path is not None else None
    try:
        if log is not None:
            plant.subscribe(log)
        for step in range(1, STEPS + 1):
            plant.run(duration * step / STEPS)
            if on_progress is not None:
                on_progress(plant.now)
    finally:
        if log is not None:
            log.close()
    return SimulationResult(scenario.name, seed, duration, kpis.report(duration), counter.count)


class _Counter:
    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, event: object) -> None:
        self.count += 1


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[str, float], Callable[[float], None]]]:
    """A rich progress bar on stderr; yields `task(description, total) -> advance(done)`.

    Quiet (a no-op) when not `enabled` or when stderr is not a terminal, so that pipes and
    logs stay clean.
    """
    if not (enabled and sys.stderr.isatty()):
        yield lambda description, total: lambda done: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[simulated]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:

        def task(description: str, total: float) -> Callable[[float], None]:
            task_id = progress.add_task(description, total=total, simulated="")

            def advance(done: float) -> None:
                progress.update(task_id, completed=done,
                                simulated=f"day {done / 86400:.1f} of {total / 86400:.1f}")

            return advance

        yield task
