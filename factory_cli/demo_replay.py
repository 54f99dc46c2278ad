"""The demo's replay strip: the same scenarios and seed run ahead, as fast as possible, at
start-up, so a class sees within minutes what the live plants show only after weeks.

It runs in the command line (the composition root) from the model the live servers run,
as a child process of `factory-sim demo` (so Ctrl-C stops it like the others), and hands the
dashboard plain figures in a JSON file (`--replay FILE`); the dashboard never imports the
model.

    python -m factory_cli.demo_replay OUT.json SEED SCENARIO [SCENARIO ...]
"""

from __future__ import annotations

import json
from pathlib import Path

DAY_S = 86_400.0
REPLAY_DAYS = 28


def _share(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


def replay(scenarios: list, names: list[str], seed: int, days: int = REPLAY_DAYS) -> dict:
    """Per plant and simulated day: the KPIs accumulated since the start (ISO 22400)."""
    from factory_sim.kpi import KpiAccounting
    from factory_sim.plant import Plant

    plants = []
    for scenario, name in zip(scenarios, names, strict=True):
        plant = Plant(scenario, seed=seed)
        kpis = KpiAccounting(plant.planned_cycle_time, cells=plant.cells)
        plant.subscribe(kpis)
        series = []
        for day in range(1, days + 1):
            plant.run(day * DAY_S)
            report = kpis.report(plant.now).plant
            series.append({"day": day, "oee": _share(report.oee),
                           "good_parts": report.good_parts,
                           "orders_completed": report.orders_completed,
                           "on_time_in_full": _share(report.on_time_in_full),
                           "lead_time_h": _hours(report.lead_time_s.mean),
                           "mttr_min": _minutes(report.repairs.mttr_s),
                           "detection_min": _minutes(report.repairs.detection_s)})
        plants.append({"name": name, "days": series})
    return {"seed": seed, "days": days, "plants": plants}


def write_replay(path: Path, scenarios: list, names: list[str], seed: int) -> Path:
    """Written whole, then renamed: the dashboard never reads half a file."""
    part = path.with_suffix(".part")
    part.write_text(json.dumps(replay(scenarios, names, seed)), encoding="utf-8")
    part.replace(path)
    return path


def main(argv: list[str] | None = None) -> None:
    import argparse

    from factory_cli.scenario_files import open_scenario

    parser = argparse.ArgumentParser(prog="python -m factory_cli.demo_replay")
    parser.add_argument("out", type=Path)
    parser.add_argument("seed", type=int)
    parser.add_argument("scenarios", nargs="+")
    args = parser.parse_args(argv)
    scenarios = [open_scenario(name) for name in args.scenarios]
    write_replay(args.out, scenarios, [s.name for s in scenarios], args.seed)


if __name__ == "__main__":
    main()
