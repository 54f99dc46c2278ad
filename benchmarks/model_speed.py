"""How fast the model simulates, against a bare SimPy loop with a comparable event mix.

Prints, in one run:
- the model's SimPy events per second on the reference plant (events processed by its
  simpy Environment, counted in a separate pass so counting costs nothing in the timed pass),
- a bare SimPy loop's events per second: a source and four stations in series joined by
  finite Stores (timeouts, Store hand-offs between processes, a few process switches per
  part), as in the model but without any of its bookkeeping,
- their ratio (target >= 0.4),
- the wall time of one simulated year (target < 30 s): the reference scenario for 365
  calendar days, which its Mon-Fri two-shift calendar makes ~250 working days (261 weekdays;
  the model has no public holidays), with and without KPI accounting subscribed.

Usage: .venv/bin/python benchmarks/model_speed.py [SCENARIO] [--days N] [--repeat N]
Figures drift between machines; compare the ratio, which is measured in one run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

import simpy

from factory_sim.kpi import KpiAccounting
from factory_sim.plant import Plant
from factory_sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
DAY = 86400.0


@contextmanager
def counting_steps():
    """Counts every event any simpy Environment processes while the block runs."""
    original = simpy.Environment.step
    counter = [0]

    def step(env):
        counter[0] += 1
        return original(env)

    simpy.Environment.step = step
    try:
        yield counter
    finally:
        simpy.Environment.step = original


def run_model(scenario, seconds: float, with_kpis: bool) -> float:
    plant = Plant(scenario)
    if with_kpis:
        plant.subscribe(KpiAccounting(plant.planned_cycle_time, cells=plant.cells))
    started = time.perf_counter()
    plant.run(seconds)
    return time.perf_counter() - started


def bare_loop(parts: int) -> None:
    """Source -> 4 stations -> sink, joined by Stores of 4; random-free, fixed cycle times."""
    env = simpy.Environment()
    stores = [simpy.Store(env, capacity=4) for _ in range(5)]

    def source():
        for part in range(parts):
            yield env.timeout(50.0)
            yield stores[0].put(part)

    def station(inbox, outbox, cycle):
        while True:
            part = yield inbox.get()
            yield env.timeout(cycle)  # setup/processing
            yield env.timeout(cycle * 0.1)  # unload
            yield outbox.put(part)

    def sink(inbox):
        while True:
            yield inbox.get()

    env.process(source())
    for index, cycle in enumerate((40.0, 45.0, 30.0, 20.0)):
        env.process(station(stores[index], stores[index + 1], cycle))
    env.process(sink(stores[4]))
    env.run()


def events_per_second(work, repeat: int) -> tuple[float, int, float]:
    """(events/s, events, median wall seconds) of `work()`, counted once, timed `repeat`x."""
    with counting_steps() as counter:
        work()
    walls = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        walls.append(time.perf_counter() - started)
    wall = statistics.median(walls)
    return counter[0] / wall, counter[0], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default=str(ROOT / "scenarios" /
                                                           "reference-opcua.yaml"))
    parser.add_argument("--days", type=float, default=20.0,
                        help="simulated days for the events/s measurement (default 20)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs, median (default 3)")
    args = parser.parse_args()
    scenario = load_scenario(args.scenario)

    model_rate, model_events, model_wall = events_per_second(
        lambda: run_model(scenario, args.days * DAY, with_kpis=False), args.repeat)
    bare_rate, bare_events, bare_wall = events_per_second(lambda: bare_loop(20000), args.repeat)
    print(f"scenario: {args.scenario}")
    print(f"model, {args.days:g} simulated days: {model_events:,} SimPy events in "
          f"{model_wall:.2f} s = {model_rate:,.0f} events/s")
    print(f"bare SimPy loop (source, 4 stations, Stores): {bare_events:,} events in "
          f"{bare_wall:.2f} s = {bare_rate:,.0f} events/s")
    print(f"ratio model / bare loop: {model_rate / bare_rate:.2f} (target >= 0.4)")

    year = 365 * DAY
    wall = run_model(scenario, year, with_kpis=False)
    print(f"one simulated year (365 calendar days ~ 250 working days), model only: "
          f"{wall:.1f} s wall (target < 30 s)")
    wall = run_model(scenario, year, with_kpis=True)
    print(f"one simulated year with KPI accounting subscribed: {wall:.1f} s wall")


if __name__ == "__main__":
    main()
