"""How fast the model simulates, against a bare SimPy loop with a comparable event mix.

Prints, in one run:
- the model's SimPy events per second on the reference plant (events processed by its
  simpy Environment, counted in a separate pass so counting costs nothing in the timed runs),
- a bare SimPy loop's events per second: a source and four stations in series joined by
  finite Stores (timeouts, Store hand-offs between processes, a few process switches per
  part), as in the model but without any of its bookkeeping,
- their ratio (target >= 0.4), from model and bare runs interleaved so that both see the
  same load from anything else running on the machine,
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
from factory_sim.shipped import shipped_scenario

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


def count_events(work) -> int:
    with counting_steps() as counter:
        work()
    return counter[0]


def wall_time(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default="reference-opcua",
                        help="scenario file or shipped name (default reference-opcua)")
    parser.add_argument("--days", type=float, default=365.0,
                        help="simulated calendar days (default 365: one year)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs, median (default 3)")
    args = parser.parse_args()
    scenario = load_scenario(shipped_scenario(args.scenario) or args.scenario)

    seconds = args.days * DAY

    def model():
        run_model(scenario, seconds, with_kpis=False)

    def bare():
        bare_loop(20000)

    model_events, bare_events = count_events(model), count_events(bare)
    # Interleaved, so that both see the same load from anything else on the machine.
    model_walls, bare_walls, ratios = [], [], []
    for _ in range(args.repeat):
        model_walls.append(wall_time(model))
        bare_walls.append(wall_time(bare))
        ratios.append((model_events / model_walls[-1]) / (bare_events / bare_walls[-1]))
    model_wall, bare_wall = statistics.median(model_walls), statistics.median(bare_walls)
    kpi_wall = statistics.median(run_model(scenario, seconds, with_kpis=True)
                                 for _ in range(args.repeat))
    print(f"scenario: {args.scenario}, {args.days:g} simulated calendar days, "
          f"median of {args.repeat} runs")
    print(f"model: {model_events:,} SimPy events in {model_wall:.2f} s = "
          f"{model_events / model_wall:,.0f} events/s")
    print(f"bare SimPy loop (source, 4 stations, Stores): {bare_events:,} events in "
          f"{bare_wall:.2f} s = {bare_events / bare_wall:,.0f} events/s")
    print(f"ratio model / bare loop: {statistics.median(ratios):.2f} (median of the "
          f"interleaved runs' ratios; target >= 0.4)")
    per_year = 365 * DAY / seconds
    print(f"one simulated year (365 calendar days ~ 250 working days): model only "
          f"{model_wall * per_year:.1f} s wall, with KPI accounting {kpi_wall * per_year:.1f} s "
          f"(target < 30 s)")


if __name__ == "__main__":
    main()
