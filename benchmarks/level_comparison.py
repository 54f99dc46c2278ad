"""The four reference levels over paired replications: means, 95 % CIs and each step's gain.

Replication i runs every level with seed i (common random numbers: the same orders and
failures at every level), so a step's effect is judged on the paired differences, whose
confidence interval is much narrower than the levels' own.

Usage: .venv/bin/python benchmarks/level_comparison.py [--replications 10] [--days 28]
Prints, per headline KPI, each level's mean ± half-width of its 95 % CI, then per step
(stand-alone → vendor → OPC UA → unified) the mean paired difference ± its half-width,
marked "better"/"worse" where the CI excludes zero.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from factory_sim.experiments import interval, paired_difference
from factory_sim.kpi import KpiAccounting
from factory_sim.plant import Plant
from factory_sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]

LEVELS = ("standalone", "vendor", "opcua", "unified")
# (label, how to read it from a KpiReport, display scale, higher is better)
HEADLINE = (
    ("OEE [%]", lambda r: r.plant.oee, 100.0, True),
    ("throughput [good parts/h]", lambda r: r.plant.throughput_parts_per_h, 1.0, True),
    ("lead time, mean [h]", lambda r: r.plant.lead_time_s.mean, 1 / 3600.0, False),
    ("on-time in full [%]", lambda r: r.plant.on_time_in_full, 100.0, True),
    ("MTTR [min]", lambda r: r.plant.repairs.mttr_s, 1 / 60.0, False),
    ("energy per good part [kWh]", lambda r: r.plant.energy_per_good_part_kwh, 1.0, False),
)
# Shown beside the headline, not judged.
OTHER = (
    ("on time, any quantity [%]", lambda r: r.plant.on_time, 100.0, True),
    ("fill rate [%]", lambda r: r.plant.fill_rate, 100.0, True),
    ("setup time, all cells [h]", lambda r: r.plant.times.setup_s, 1 / 3600.0, False),
    ("failures", lambda r: r.plant.repairs.failures, 1.0, False),
    ("MTTR detection [min]", lambda r: r.plant.repairs.detection_s, 1 / 60.0, False),
    ("MTBF, producing time [h]", lambda r: r.plant.repairs.mtbf_producing_s, 1 / 3600.0,
     True),
    ("information accuracy [%]", lambda r: r.plant.information.accuracy, 100.0, True),
    ("laser busy [%]", lambda r: 1.0 - r.cell("punch-laser").times.delay_s
     / r.cell("punch-laser").times.pbt_s, 100.0, False),
)
ROWS = HEADLINE + OTHER
def run(level: str, seed: int, days: float):
    plant = Plant(load_scenario(ROOT / "scenarios" / f"reference-{level}.yaml"), seed=seed)
    kpis = KpiAccounting(plant.planned_cycle_time, cells=plant.cells)
    plant.subscribe(kpis)
    plant.run(days * 86400.0)
    return kpis.report(plant.now)


def compare(replications: int, days: float) -> dict[str, list[list[float]]]:
    """{level: [[KPI values of replication i] ...]} in ROWS order, display units."""
    results: dict[str, list[list[float]]] = {level: [] for level in LEVELS}
    for seed in range(1, replications + 1):
        for level in LEVELS:
            report = run(level, seed, days)
            results[level].append([read(report) * scale for _, read, scale, _ in ROWS])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=10)
    parser.add_argument("--days", type=float, default=28.0)
    args = parser.parse_args()
    results = compare(args.replications, args.days)
    print(f"{args.replications} paired replications (seeds 1..{args.replications}), "
          f"{args.days:g} days; mean ± 95 % CI half-width")
    print(f"{'KPI':<28}" + "".join(f"{level:>20}" for level in LEVELS))
    for k, (label, _, _, _) in enumerate(ROWS):
        if k == len(HEADLINE):
            print("(not headline)")
        cells = [interval([r[k] for r in results[level]]) for level in LEVELS]
        print(f"{label:<28}" + "".join(f"{c.mean:>12.3f} ± {c.half_width or 0:<5.3f}"
                                       for c in cells))
    print("\npaired differences (later level − earlier), mean ± 95 % CI half-width")
    steps = list(itertools.pairwise(LEVELS))
    print(f"{'KPI':<28}" + "".join(f"{a[:4]}→{b:<8}".rjust(30) for a, b in steps))
    for k, (label, _, _, higher_better) in enumerate(HEADLINE):
        row = f"{label:<28}"
        for a, b in steps:
            diff = paired_difference([r[k] for r in results[a]], [r[k] for r in results[b]])
            verdict = ""
            if diff.excludes_zero:
                verdict = "better" if (diff.mean > 0) == higher_better else "WORSE"
            row += f"{diff.mean:>+12.3f} ± {diff.half_width or 0:<6.3f} {verdict:<7}"
        print(row)


if __name__ == "__main__":
    main()
