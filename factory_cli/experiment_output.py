"""What `compare` and `sweep` show and write for replications and for integration effort.

Figures are found generically: every plant figure of the reports is summarised (JSON, CSV);
the terminal tables show the rows of `kpi_table.KPI_ROWS` that the reports have.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

from factory_cli.kpi_table import KPI_ROWS, PERCENT, KpiRow, flatten
from factory_sim.experiments import Interval, paired_differences, summarise
from factory_sim.integration import growth, integration_cost
from factory_sim.plant import Plant
from factory_sim.scenario import Scenario
from factory_sim.states import ConnectivityLevel

# The KPIs a reader looks at first (charts, sweep); those a report lacks are left out.
HEADLINE_PATHS = ("oee", "throughput_parts_per_h", "lead_time_s.mean", "on_time_in_full",
                  "on_time_delivery", "repairs.mttr_s", "energy_per_good_part_kwh")


# A star marks a paired difference that is beyond the noise *and* matters: only on these
# headline KPIs, named before any run (so no correction for multiple comparisons is needed
# for the stars; the other rows show intervals without stars), only where the interval
# excludes 0, the difference does not round to zero as shown, and it is at least this large
# (stored units: ratios, seconds, kWh). Teaching thresholds: what a production engineer
# would act on (docs/reference/statistics.md).
PRACTICAL = {"oee": 0.01, "throughput_parts_per_h": 0.5, "lead_time_s.mean": 3600.0,
             "on_time_in_full": 0.01, "on_time_delivery": 0.01, "repairs.mttr_s": 120.0,
             "energy_per_good_part_kwh": 0.01}


def significance_mark(row: KpiRow, iv: Interval) -> str:
    """" *" for a difference beyond the noise and beyond the practical threshold of a
    headline KPI; "" otherwise."""
    threshold = PRACTICAL.get(row.plant or "")
    if threshold is None or iv.mean is None or not iv.excludes_zero:
        return ""
    if round(shown(row, iv.mean), row.digits) == 0 or abs(iv.mean) < threshold:
        return ""
    return " *"


def headline_rows(available: Sequence[str]) -> list[KpiRow]:
    """The KPI rows of the headline KPIs that are among the `available` figure paths."""
    rows = {row.plant: row for row in KPI_ROWS if row.plant}
    return [rows[path] for path in HEADLINE_PATHS if path in rows and path in available]


def shown(row: KpiRow, value: float | None) -> float | None:
    """A stored figure (seconds, ratios) in the unit the row shows it in."""
    if value is None:
        return None
    return value * 100 if row.unit == PERCENT else value / row.scale


# -- replications -----------------------------------------------------------------------------

def difference_key(differences: str) -> str:
    """A scenario's paired difference in compare.json: difference_to_first (against the first
    scenario) or difference_to_previous (against the one before it)."""
    return f"difference_to_{differences}"


def experiment_data(names: Sequence[str], files: Sequence[str], seeds: Sequence[int],
                    runs: Sequence[Sequence[dict]], to_previous: bool = False) -> dict:
    """compare.json with replications: per scenario the mean and 95 % interval of every
    plant figure, its paired difference against the first scenario (or, `to_previous`, against
    the one before it: the steps of a ladder such as stand-alone → vendor → OPC UA → unified),
    and every replication."""
    differences = "previous" if to_previous else "first"
    plants = [[run["plant"] for run in scenario_runs] for scenario_runs in runs]
    scenarios = []
    for index, (name, file, scenario_runs) in enumerate(zip(names, files, runs, strict=True)):
        base = index - 1 if to_previous else 0
        difference = None if index == 0 else {
            path: iv.as_dict() for path, iv in paired_differences(plants[base],
                                                                  plants[index]).items()}
        scenarios.append({
            "name": name, "file": file,
            "plant": {path: iv.as_dict() for path, iv in summarise(plants[index]).items()},
            difference_key(differences): difference,
            "replications": list(scenario_runs),
        })
    first = runs[0][0]
    return {"replications": len(seeds), "seeds": list(seeds), "duration_s": first["duration_s"],
            "warmup_s": first.get("warmup_s", 0.0), "differences": differences,
            "scenarios": scenarios}


def paired_steps(data: dict) -> list[tuple[dict, dict]]:
    """(baseline, scenario) of every paired difference in `data`, in the scenarios' order."""
    scenarios = data["scenarios"]
    if data["differences"] == "first":
        return [(scenarios[0], s) for s in scenarios[1:]]
    return list(pairwise(scenarios))


def difference_title(data: dict) -> str:
    if data["differences"] == "first":
        return f"Paired difference against {data['scenarios'][0]['name']}"
    return "Paired difference of each scenario against the one before it"


def difference_heading(data: dict, base: dict, scenario: dict) -> str:
    """A difference's column or bar label: the scenario, or the step "a → b"."""
    if data["differences"] == "first":
        return scenario["name"]
    return f"{base['name']} → {scenario['name']}"


def difference_of(data: dict, scenario: dict, path: str) -> dict | None:
    """A scenario's paired difference (Interval.as_dict()) of one figure, None if it has none."""
    found = scenario[difference_key(data["differences"])]
    return None if found is None else found.get(path)


def _interval_of(found: dict | None) -> Interval | None:
    return None if found is None else Interval(found["mean"], found["half_width"], found["n"])


def interval_text(row: KpiRow, found: dict) -> str:
    """"32.9 ± 0.4" from an `Interval.as_dict()`, in the row's unit."""
    return _text(row, _interval_of(found))


def _text(row: KpiRow, iv: Interval | None, signed: bool = False) -> str:
    if iv is None or iv.mean is None:
        return "–"
    mean = shown(row, iv.mean)
    text = f"{mean:+,.{row.digits}f}" if signed else f"{mean:,.{row.digits}f}"
    if iv.half_width is None:
        return text
    width = shown(row, iv.half_width) if row.unit == PERCENT else iv.half_width / row.scale
    text += f" ± {width:,.{row.digits}f}"
    return text + (significance_mark(row, iv) if signed else "")


def interval_tables(data: dict):
    """Two rich tables: means ± 95 % CI per scenario, and the paired differences (against the
    first scenario or each against the one before it)."""
    from rich.table import Table
    from rich.text import Text

    scenarios = data["scenarios"]
    seeds = data["seeds"]
    steps = paired_steps(data)
    means = Table(title=f"Plant KPIs — mean ± 95 % CI over {data['replications']} "
                  f"replications (seeds {seeds[0]}–{seeds[-1]}, paired)", title_justify="left")
    diffs = Table(title=f"{difference_title(data)} (mean ± 95 % CI; * on a headline KPI: the "
                  "interval excludes 0 and the difference passes its practical threshold)",
                  title_justify="left")
    means.add_column("KPI", no_wrap=True)
    for scenario in scenarios:
        means.add_column(Text(scenario["name"]), justify="right", no_wrap=True)
    diffs.add_column("KPI", no_wrap=True)
    for base, scenario in steps:
        diffs.add_column(Text(difference_heading(data, base, scenario)), justify="right",
                         no_wrap=True)
    for row in KPI_ROWS:
        if not row.plant or row.plant not in scenarios[0]["plant"]:
            continue
        means.add_row(Text(row.heading), *(_text(row, _interval_of(s["plant"].get(row.plant)))
                                           for s in scenarios))
        diffs.add_row(Text(row.heading), *(
            _text(row, _interval_of(difference_of(data, s, row.plant)), signed=True)
            for _, s in steps))
    return means, diffs


def write_interval_csv(path: Path, data: dict) -> None:
    """compare.csv with replications: per KPI row the mean and CI of each scenario, then each
    paired difference ("b - a": against the first or the previous scenario) with its CI
    (display units)."""
    scenarios = data["scenarios"]
    steps = paired_steps(data)
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        header = ["kpi", "unit"]
        for s in scenarios:
            header += [f"{s['name']} mean", f"{s['name']} ci_low", f"{s['name']} ci_high"]
        for base, s in steps:
            header += [f"{s['name']} - {base['name']}", "ci_low", "ci_high"]
        writer.writerow(header)
        for row in KPI_ROWS:
            if not row.plant or row.plant not in scenarios[0]["plant"]:
                continue
            found = [s["plant"].get(row.plant) for s in scenarios]
            found += [difference_of(data, s, row.plant) for _, s in steps]
            cells: list = [row.label.strip(), row.unit]
            for figure in found:
                cells += ["" if figure is None or figure[k] is None else shown(row, figure[k])
                          for k in ("mean", "low", "high")]
            writer.writerow(cells)


def write_replications_csv(path: Path, data: dict) -> None:
    """replications.csv: one row per scenario and replication, every plant figure a column."""
    rows = []
    for scenario in data["scenarios"]:
        for index, run in enumerate(scenario["replications"]):
            rows.append({"scenario": scenario["name"], "replication": index,
                         "seed": run["seed"], **flatten(run["plant"])})
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})


def mean_report(summary: dict[str, dict]) -> dict:
    """A report-shaped dict ({"plant": {...}}) of the means, for the single-run charts."""
    plant: dict = {}
    for path, found in summary.items():
        node = plant
        *parents, leaf = path.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = found["mean"]
    return {"plant": plant}


# -- integration effort -----------------------------------------------------------------------


def integration_data(names: Sequence[str], scenarios: Sequence[Scenario]) -> dict:
    """Interfaces, hours and cost of each scenario's plant, and how they grow with machines
    and consumers (all vendor adapters, N × M, against all standard, N + M)."""
    rows = []
    for name, scenario in zip(names, scenarios, strict=True):
        effort = Plant(scenario).integration_effort()
        spec = scenario.integration
        cost = integration_cost(effort, **spec.model_dump())
        rows.append({"name": name, **effort.as_dict(), **cost.as_dict(),
                     "assumptions": spec.model_dump()})
    first = scenarios[0]
    consumers = len(first.consumers)
    shifts = len(first.calendar.shifts) * len(first.calendar.workdays)
    machines = list(range(1, max(2 * len(first.cells), 8) + 1))
    spec = first.integration.model_dump()
    growth_rows = []
    for label, level in (("point-to-point", ConnectivityLevel.VENDOR),
                         ("standard", ConnectivityLevel.OPCUA)):
        for n, effort in zip(machines, growth(machines, consumers, shifts, level), strict=True):
            cost = integration_cost(effort, **spec)
            growth_rows.append({"architecture": label, "machines": n, "consumers": consumers,
                                "interfaces": effort.interfaces, "build_h": cost.build_h,
                                "cost_build": cost.cost_build,
                                "cost_per_year": cost.cost_per_year})
    return {"scenarios": rows, "growth": growth_rows}


INTEGRATION_ROWS = (
    ("Interfaces to build and keep", "interfaces", "{:,.0f}"),
    ("  vendor adapters (N × M)", "adapters", "{:,.0f}"),
    ("  standard interfaces (N + M)", "standard_interfaces", "{:,.0f}"),
    ("Cells live", "live_cells", "{:,.0f}"),
    ("Paper shift reports per week", "manual_reports_per_week", "{:,.0f}"),
    ("One machine more: interfaces", "machine_added", "{:,.0f}"),
    ("One consumer more: interfaces", "consumer_added", "{:,.0f}"),
    ("Build [h]", "build_h", "{:,.0f}"),
    ("Upkeep [h/year]", "upkeep_h_per_year", "{:,.0f}"),
    ("Typing in reports [h/year]", "reporting_h_per_year", "{:,.0f}"),
    ("Companion specifications mapped", "companion_specs", "{:,.0f}"),
    ("Cells with condition monitoring", "predictive_cells", "{:,.0f}"),
    ("Build cost [EUR]", "cost_build", "{:,.0f}"),
    ("Running cost [EUR/year]", "cost_per_year", "{:,.0f}"),
)


def add_payback(integration: dict, data: dict, scenarios: Sequence[Scenario]) -> None:
    """Each paired step's payback period: its extra build cost against the yearly value of its
    mean KPI gains (energy, good parts, late orders, at the first scenario's `integration:`
    rates) and its running-cost savings. Sets `payback_years` (None: never) and
    `gains_eur_per_year` on each scenario row of `integration` that has a paired step."""
    from factory_sim.integration import IntegrationCost, gains_per_year, payback_years

    rates = scenarios[0].integration.model_dump()
    rows = {row["name"]: row for row in integration["scenarios"]}
    fields = ("build_h", "upkeep_h_per_year", "reporting_h_per_year", "cost_build",
              "cost_per_year")
    for base, scenario in paired_steps(data):
        def mean(section: dict, path: str) -> float:
            return (section["plant"].get(path) or {}).get("mean") or 0.0

        def late(section: dict) -> float:
            return mean(section, "orders_completed") * (1 - mean(section, "on_time_in_full"))

        difference = {path: mean(scenario, path) - mean(base, path)
                      for path in ("energy_kwh", "good_parts")}
        difference["late_orders"] = late(base) - late(scenario)
        gains = gains_per_year(difference, data["duration_s"], **rates)
        before = IntegrationCost(*(rows[base["name"]][f] for f in fields))
        after = IntegrationCost(*(rows[scenario["name"]][f] for f in fields))
        row = rows[scenario["name"]]
        row["gains_eur_per_year"] = gains
        row["payback_years"] = payback_years(before, after, gains)
        row["payback_against"] = base["name"]


def integration_table(data: dict):
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Integration effort (hours and cost: the scenario's `integration:` "
                  "figures)", title_justify="left")
    table.add_column("", no_wrap=True)
    for row in data["scenarios"]:
        table.add_column(Text(row["name"]), justify="right", no_wrap=True)
    for label, key, fmt in INTEGRATION_ROWS:
        table.add_row(Text(label), *(fmt.format(row[key]) for row in data["scenarios"]))
    if any("payback_against" in row for row in data["scenarios"]):
        table.add_row(Text("KPI gains, valued [EUR/year]"), *(
            f"{row['gains_eur_per_year']:+,.0f}" if "payback_against" in row else "–"
            for row in data["scenarios"]))
        table.add_row(Text("Payback of the step [years]"), *(
            ("never" if row["payback_years"] is None else f"{row['payback_years']:,.1f}")
            if "payback_against" in row else "–" for row in data["scenarios"]))
    return table


def write_integration_csv(path: Path, data: dict) -> None:
    """integration.csv: one row per INTEGRATION_ROWS figure, one column per scenario; then the
    growth with the number of machines."""
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["figure", *(row["name"] for row in data["scenarios"])])
        for label, key, _ in INTEGRATION_ROWS:
            writer.writerow([label.strip(), *(row[key] for row in data["scenarios"])])
        writer.writerow([])
        columns = list(data["growth"][0])
        writer.writerow(columns)
        for row in data["growth"]:
            writer.writerow([row[column] for column in columns])


def write_sweep_csv(path: Path, data: dict) -> None:
    """sweep.csv: one row per value of the parameter; mean, CI low and high of every KPI row."""
    points = data["points"]
    rows = [row for row in KPI_ROWS if row.plant and row.plant in points[0]["plant"]]
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        header = [data["parameter"]]
        for row in rows:
            name = f"{row.label.strip()} [{row.unit}]" if row.unit else row.label.strip()
            header += [f"{name} mean", f"{name} ci_low", f"{name} ci_high"]
        writer.writerow(header)
        for point in points:
            cells: list = [point["value"]]
            for row in rows:
                found = point["plant"][row.plant]
                cells += ["" if found[k] is None else shown(row, found[k])
                          for k in ("mean", "low", "high")]
            writer.writerow(cells)


def sweep_summary(runs: Sequence[dict]) -> dict[str, dict]:
    """Mean and interval of every plant figure over one sweep point's replications."""
    return {path: iv.as_dict() for path, iv in summarise([run["plant"] for run in runs]).items()}
