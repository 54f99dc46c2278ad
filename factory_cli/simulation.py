"""Running scenarios as fast as possible and accounting their KPIs: shared by the commands.

`simulate` runs one scenario in this process; `run_replications` runs many (scenario, seed)
jobs on a pool of processes, one per core, for experiments with replications.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Iterator, Sequence
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
    duration_s: float  # accounted in the KPIs, after the warm-up
    report: KpiReport
    events: int  # events published by the model
    warmup_s: float = 0.0  # simulated before the KPIs start

    def as_dict(self) -> dict:
        return {"scenario": self.scenario, "seed": self.seed, "duration_s": self.duration_s,
                "warmup_s": self.warmup_s, "events": self.events, **self.report.as_dict()}


def simulate(
    scenario: Scenario,
    *,
    seed: int | None = None,
    duration: float | None = None,
    warmup: float = 0.0,
    events_path: Path | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> SimulationResult:
    """Run `scenario` for `warmup` + `duration` simulated seconds; KPIs cover the `duration`.

    `duration` defaults to the scenario's own; the warm-up lets queues fill up to their usual
    level before the KPIs start (what is under way then carries on into them). `seed`
    overrides the scenario's seed; `events_path` receives the whole event log (JSON Lines);
    `on_progress(simulated_seconds)` is called as the run advances.
    """
    duration = scenario.duration if duration is None else duration
    end = warmup + duration
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
        restarted = warmup <= 0
        for step in range(1, STEPS + 1):
            until = end * step / STEPS
            if not restarted and until >= warmup:
                plant.run(warmup)
                kpis.restart(warmup)
                restarted = True
            plant.run(until)
            if on_progress is not None:
                on_progress(plant.now)
    finally:
        if log is not None:
            log.close()
    return SimulationResult(scenario.name, seed, duration, kpis.report(end), counter.count,
                            warmup)


@dataclass(frozen=True)
class Job:
    """One replication: a scenario with a seed (everything a worker process needs)."""

    scenario: Scenario
    seed: int
    duration: float | None = None
    warmup: float = 0.0


def run_job(job: Job) -> dict:
    return simulate(job.scenario, seed=job.seed, duration=job.duration,
                    warmup=job.warmup).as_dict()


def available_cores() -> int:
    """The cores this process may run on (the CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_replications(jobs: Sequence[Job], workers: int | None = None,
                     on_done: Callable[[int], None] | None = None) -> list[dict]:
    """Every job's `SimulationResult.as_dict()`, in the order of `jobs`.

    Runs on `workers` processes (default: one per available core), or in this process when
    that is 1. `on_done(count_done)` is called in this process as jobs finish.
    """
    workers = min(workers or available_cores(), len(jobs))
    results: list[dict | None] = [None] * len(jobs)
    if workers <= 1:
        for index, job in enumerate(jobs):
            results[index] = run_job(job)
            if on_done is not None:
                on_done(index + 1)
        return results
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # forkserver: workers start from a clean process, not a fork of one with threads running
    # (the progress bar's). Jobs are submitted as workers free up (a few queued each), not
    # all at once, so nothing proportional to the experiment is built before the first run.
    context = multiprocessing.get_context("forkserver")
    pending = iter(enumerate(jobs))
    running: dict = {}
    done = 0
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        while True:
            for index, job in itertools.islice(pending, 2 * workers - len(running)):
                running[pool.submit(run_job, job)] = index
            if not running:
                return results
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                results[running.pop(future)] = future.result()
                done += 1
                if on_done is not None:
                    on_done(done)


class _Counter:
    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, event: object) -> None:
        self.count += 1


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[..., Callable[[float], None]]]:
    """A rich progress bar on stderr; yields `task(description, total, count=None)` ->
    `advance(done)`: simulated seconds, or with `count` (e.g. "runs") items done.

    Quiet (a no-op) when not `enabled` or when stderr is not a terminal, so that pipes and
    logs stay clean.
    """
    if not (enabled and sys.stderr.isatty()):
        yield lambda description, total, count=None: lambda done: None
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

        def task(description: str, total: float,
                 count: str | None = None) -> Callable[[float], None]:
            task_id = progress.add_task(description, total=total, simulated="")

            def advance(done: float) -> None:
                text = (f"{done:.0f} of {total:.0f} {count}" if count
                        else f"day {done / 86400:.1f} of {total / 86400:.1f}")
                progress.update(task_id, completed=done, simulated=text)

            return advance

        yield task
