"""`factory-sim sweep SCENARIO --vary key.path=v1,v2,...`: headline KPIs against one parameter.

Every value runs with the same seeds (replication i: seed base + i), so neighbouring points
differ by the parameter, not by luck. With `--baseline-level LEVEL` every value also runs at
that connectivity level on the same seeds, and each point shows the paired difference of the
scenario against it: a level step's effect as a curve over the parameter (e.g. over demand,
`--vary orders.interarrival=70m,60m,55m,50m`).
"""

from __future__ import annotations

import argparse

from factory_cli.commands.compare import add_replication_options, replication_settings, run_jobs
from factory_cli.commands.run import add_simulation_options, output_dir, run_lengths
from factory_cli.errors import CliError
from factory_cli.limits import MAX_RUNS, MAX_SWEEP_VALUES, check_runs


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="run a scenario for each value of one parameter and chart the headline KPIs",
        description="Run SCENARIO once per value of --vary (with the same seeds for every "
        "value) and print the headline KPIs against the parameter, with 95 % confidence "
        "intervals when --replications is 2 or more. With --out, also write sweep.json "
        "(every replication), sweep.csv and sweep.png.",
    )
    add_simulation_options(parser)
    add_replication_options(parser)
    parser.add_argument("--vary", required=True, metavar="KEY=V1,V2,...",
                        help="the parameter and its values, e.g. maintenance.technicians=1,2,3 "
                        "or cells.press-brake.connectivity=standalone,opcua (values as in "
                        f"--set; commas inside [...] or {{...}} do not split; at most "
                        f"{MAX_SWEEP_VALUES} values, values × replications at most "
                        f"{MAX_RUNS:,})")
    parser.add_argument("--baseline-level", metavar="LEVEL",
                        choices=("standalone", "vendor", "opcua", "unified"),
                        help="with --replications: also run every value at this connectivity "
                        "level (same seeds) and show the paired difference of SCENARIO "
                        "against it at each value (sweep_differences.png with --out)")
    parser.add_argument("scenario", metavar="SCENARIO", help="scenario file or shipped name")
    parser.set_defaults(handler=sweep_command)


def split_values(text: str) -> list[str]:
    """"1,2,{a: 1, b: 2}" -> ["1", "2", "{a: 1, b: 2}"]: commas split only outside brackets."""
    values, depth, current = [], 0, ""
    for char in text:
        depth += (char in "[{") - (char in "]}")
        if char == "," and depth == 0:
            values.append(current.strip())
            current = ""
        else:
            current += char
    values.append(current.strip())
    return values


def parse_vary(text: str) -> tuple[str, list[str]]:
    key, sep, values = text.partition("=")
    key = key.strip()
    parts = split_values(values)
    if not sep or not key or not all(parts):
        raise CliError(f"--vary {text}: expected key.path=v1,v2,... with at least one value, "
                       "e.g. maintenance.technicians=1,2,3")
    if len(parts) > MAX_SWEEP_VALUES:
        raise CliError(f"--vary {key}: {len(parts):,} values; expected at most "
                       f"{MAX_SWEEP_VALUES}")
    return key, parts


def sweep_command(args: argparse.Namespace) -> int:
    import json

    from factory_cli.experiment_output import headline_rows, sweep_summary, write_sweep_csv
    from factory_cli.scenario_files import open_scenario
    from factory_cli.simulation import Job
    from factory_cli.terminal import pipe_may_close, stdout_console
    from factory_sim.experiments import paired_differences, replication_seeds

    duration, warmup = run_lengths(args)
    replications, workers = replication_settings(args)
    key, values = parse_vary(args.vary)
    check_runs(f"--vary {key}", len(values), replications)
    if args.baseline_level and replications == 1:
        raise CliError(f"--baseline-level {args.baseline_level}: paired differences need "
                       "--replications 2 or more")
    separator = ":=" if key.endswith(":") else "="
    key = key.removesuffix(":")
    scenarios = [open_scenario(args.scenario, args.sets, "--vary",
                               [f"{key}{separator}{value}"])
                 for value in values]  # every error before any run
    if args.baseline_level:
        scenarios += [open_scenario(args.scenario, args.sets, "--vary",
                                    [f"{key}{separator}{value}",
                                     f"connectivity={args.baseline_level}"])
                      for value in values]
    seeds = replication_seeds(scenarios[0].seed if args.seed is None else args.seed,
                              replications)
    out = output_dir(args.out)
    jobs = [Job(scenario, seed, duration, warmup) for scenario in scenarios for seed in seeds]
    results = run_jobs(jobs, workers, args.quiet, args.cluster)
    points = []
    for index, value in enumerate(values):
        runs = results[index * replications:(index + 1) * replications]
        point = {"value": value, "plant": sweep_summary(runs), "replications": runs}
        if args.baseline_level:
            start = (len(values) + index) * replications
            base = results[start:start + replications]
            point["difference_to_baseline"] = {
                path: iv.as_dict() for path, iv in paired_differences(
                    [r["plant"] for r in base], [r["plant"] for r in runs]).items()}
            point["baseline_replications"] = base
        points.append(point)
    data = {"scenario": scenarios[0].name, "parameter": key, "values": values,
            "replications": replications, "seeds": seeds,
            "duration_s": results[0]["duration_s"], "warmup_s": warmup,
            "baseline_level": args.baseline_level, "points": points}
    rows = headline_rows(list(points[0]["plant"]))
    written = []
    if out:
        from factory_cli.interval_charts import sweep_chart

        (out / "sweep.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        write_sweep_csv(out / "sweep.csv", data)
        written = [out / "sweep.json", out / "sweep.csv",
                   sweep_chart(key, values, [p["plant"] for p in points], rows,
                               out / "sweep.png")]
        if args.baseline_level:
            written.append(sweep_chart(
                key, values, [p["difference_to_baseline"] for p in points], rows,
                out / "sweep_differences.png",
                f"Paired difference against {args.baseline_level}, against {key}"))
    with pipe_may_close():
        if args.format == "json":
            print(json.dumps(data, indent=2))
            return 0
        console = stdout_console()
        console.print(_table(data, rows))
        if args.baseline_level:
            console.print(_difference_table(data, rows))
        if written:
            console.print("wrote " + ", ".join(str(path) for path in written),
                          markup=False, highlight=False)
    return 0


def _table(data: dict, rows: list):
    from rich.table import Table
    from rich.text import Text

    from factory_cli.experiment_output import interval_text
    from factory_cli.kpi_table import span

    intervals = (f", mean ± 95 % CI over {data['replications']} replications"
                 if data["replications"] > 1 else f", seed {data['seeds'][0]}")
    table = Table(title=f"{data['scenario']}: headline KPIs against {data['parameter']} "
                  f"({span(data['duration_s'])} simulated{intervals})", title_justify="left")
    table.add_column(Text(data["parameter"]), no_wrap=True)
    for row in rows:
        table.add_column(Text(row.heading), justify="right", no_wrap=True)
    for point in data["points"]:
        table.add_row(Text(point["value"]), *(interval_text(row, point["plant"][row.plant])
                                              for row in rows))
    return table


def _difference_table(data: dict, rows: list):
    from rich.table import Table
    from rich.text import Text

    from factory_cli.experiment_output import significance_mark
    from factory_cli.kpi_table import span
    from factory_sim.experiments import Interval

    table = Table(title=f"{data['scenario']} − the same at {data['baseline_level']}, at each "
                  f"{data['parameter']} (paired over {data['replications']} replications, "
                  f"{span(data['duration_s'])}; mean ± 95 % CI; * beyond the noise and the "
                  "practical threshold)", title_justify="left")
    table.add_column(Text(data["parameter"]), no_wrap=True)
    for row in rows:
        table.add_column(Text(row.heading), justify="right", no_wrap=True)
    for point in data["points"]:
        cells = []
        for row in rows:
            found = point["difference_to_baseline"].get(row.plant)
            iv = None if found is None else Interval(found["mean"], found["half_width"],
                                                     found["n"])
            cells.append(_signed(row, iv) + ("" if iv is None else significance_mark(row, iv)))
        table.add_row(Text(point["value"]), *cells)
    return table


def _signed(row, iv) -> str:
    from factory_cli.experiment_output import shown

    if iv is None or iv.mean is None:
        return "–"
    text = f"{shown(row, iv.mean):+,.{row.digits}f}"
    if iv.half_width is not None:
        text += f" ± {abs(shown(row, iv.half_width)):,.{row.digits}f}"
    return text
