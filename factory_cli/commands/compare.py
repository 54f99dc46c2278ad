"""`factory-sim compare SCENARIO...`: the same orders and failures, different connectivity.

All scenarios run with the same seeds, so they see common random numbers: differences in the
KPIs come from the scenarios, not from luck. With `--replications N`, replication i runs every
scenario with seed base + i; the KPIs get 95 % confidence intervals, and so does each
scenario's paired difference against the first scenario (`--differences first`) or against
the one before it (`--differences previous`: the steps of a ladder such as stand-alone →
vendor → OPC UA → unified).
"""

from __future__ import annotations

import argparse

from factory_cli.commands.run import add_simulation_options, output_dir, run_lengths
from factory_cli.errors import CliError
from factory_cli.limits import (
    MAX_JOBS,
    MAX_REPLICATIONS,
    MAX_RUNS,
    MAX_SCENARIOS,
    bounded,
    check_runs,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="run several scenarios with the same seeds and compare their KPIs",
        description="Run every SCENARIO with the same seeds (common random numbers) and print "
        "their plant KPIs side by side, and the integration effort of each plant. With "
        "--replications N: means with 95 % confidence intervals and paired differences "
        "against the first scenario (or, with --differences previous, each against the one "
        "before it). With --out, also write compare.json, compare.csv, "
        "integration.csv, charts, and with replications replications.csv.",
    )
    add_simulation_options(parser, seed_default="the first scenario's `seed`, for all")
    add_replication_options(parser)
    parser.add_argument("--differences", choices=("first", "previous"),
                        help="with --replications: take each scenario's paired difference "
                        "against the first scenario (default) or against the previous one")
    parser.add_argument("--attribute", action="store_true",
                        help="with --replications: split each paired difference into the "
                        "contribution of each mechanism switched alone (one at a time, same "
                        "seeds) and the interaction rest; table, compare.json `attribution` "
                        "and, with --out, attribution.png")
    parser.add_argument("scenarios", nargs="+", metavar="SCENARIO",
                        help=f"scenario files or shipped names (at most {MAX_SCENARIOS}; "
                        f"scenarios × replications at most {MAX_RUNS:,})")
    parser.set_defaults(handler=compare_command)


def add_replication_options(parser: argparse.ArgumentParser) -> None:
    """--replications and --jobs, shared by `compare` and `sweep`."""
    parser.add_argument("--replications", "-n", type=int, default=1, metavar="N",
                        help="runs per scenario, replication i with seed SEED + i in every "
                        f"scenario (default 1, at most {MAX_REPLICATIONS:,})")
    parser.add_argument("--jobs", "-j", type=int, metavar="N",
                        help="processes to run replications on (default: one per core; "
                        f"at most {MAX_JOBS})")
    parser.add_argument("--cluster", metavar="tcp://SCHEDULER:PORT",
                        help="run the replications on the workers of this Dask scheduler "
                        "(each with factory-sim installed) instead of local processes; the "
                        "same results as a local run for the same seeds")


def replication_settings(args: argparse.Namespace) -> tuple[int, int | None]:
    bounded("--replications", args.replications, 1, MAX_REPLICATIONS)
    if args.jobs is not None:
        bounded("--jobs", args.jobs, 1, MAX_JOBS)
    if args.cluster is not None:
        from factory_cli.dask_cluster import scheduler_address

        scheduler_address(args.cluster)
        if args.jobs is not None:
            raise CliError("--jobs: with --cluster the cluster's workers run the replications; "
                           "leave out --jobs")
    return args.replications, args.jobs


def _unique_names(names: list[str]) -> list[str]:
    """Scenario names as column headings; repeats get #2, #3 so no column hides another."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return unique


def run_jobs(jobs: list, workers: int | None, quiet: bool,
             cluster: str | None = None) -> list[dict]:
    """Run replication jobs, on local processes or on a Dask `cluster`, with a progress bar
    (on stderr, when it is a terminal)."""
    from factory_cli.simulation import progress_bar, run_replications

    with progress_bar(not quiet) as task:
        advance = task("replications", len(jobs), "runs")
        if cluster is not None:
            from factory_cli.dask_cluster import run_on_cluster

            return run_on_cluster(cluster, jobs, advance)
        return run_replications(jobs, workers, advance)


def compare_command(args: argparse.Namespace) -> int:
    import json

    from factory_cli.experiment_output import (
        integration_data,
        integration_table,
        write_integration_csv,
    )
    from factory_cli.scenario_files import open_scenario
    from factory_cli.simulation import Job
    from factory_cli.terminal import pipe_may_close, stdout_console
    from factory_sim.experiments import replication_seeds

    duration, warmup = run_lengths(args)
    replications, workers = replication_settings(args)
    if args.differences and replications == 1:
        raise CliError(f"--differences {args.differences}: paired differences need "
                       "--replications 2 or more")
    if len(args.scenarios) > MAX_SCENARIOS:
        raise CliError(f"SCENARIO: {len(args.scenarios)} scenarios; expected at most "
                       f"{MAX_SCENARIOS} in one comparison")
    check_runs("SCENARIO", len(args.scenarios), replications)
    if args.attribute and (replications == 1 or len(args.scenarios) < 2):
        raise CliError("--attribute: attributing a step needs two or more scenarios and "
                       "--replications 2 or more")
    scenarios = [open_scenario(name, args.sets) for name in args.scenarios]  # errors first
    plan = _attribution_plan(scenarios, args.differences) if args.attribute else []
    seeds = replication_seeds(scenarios[0].seed if args.seed is None else args.seed,
                              replications)
    out = output_dir(args.out)
    runnable = [*scenarios, *(sc for _, _, found in plan for sc in found.values())]
    jobs = [Job(scenario, seed, duration, warmup) for scenario in runnable for seed in seeds]
    results = run_jobs(jobs, workers, args.quiet, args.cluster)
    all_runs = [results[i * replications:(i + 1) * replications] for i in range(len(runnable))]
    runs = all_runs[:len(scenarios)]
    names = _unique_names([scenario.name for scenario in scenarios])
    integration = integration_data(names, scenarios)
    if replications == 1:
        data, written, tables = _single(names, args.scenarios, seeds[0], runs, out)
    else:
        data, written, tables = _replicated(names, args.scenarios, seeds, runs, out,
                                            args.differences == "previous")
        from factory_cli.experiment_output import add_payback

        add_payback(integration, data, scenarios)
    data["integration"] = integration
    if plan:
        from factory_cli.attribution_output import attribution_data, attribution_tables

        extra = iter(all_runs[len(scenarios):])
        ablated = [{m: [run["plant"] for run in next(extra)] for m in found}
                   for _, _, found in plan]
        data["attribution"] = attribution_data(
            names, plan, [[run["plant"] for run in r] for r in runs], ablated)
        tables = [*tables, *attribution_tables(data["attribution"], replications)]
        if out:
            from factory_cli.waterfall_chart import waterfall_chart

            written = [*written, waterfall_chart(data["attribution"], out / "attribution.png")]
    if out:
        from factory_cli.interval_charts import integration_chart

        write_integration_csv(out / "integration.csv", integration)
        (out / "compare.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        written = [out / "compare.json", *written, out / "integration.csv",
                   integration_chart(integration, out / "integration.png")]
    with pipe_may_close():
        if args.format == "json":
            print(json.dumps(data, indent=2))
            return 0
        console = stdout_console()
        for table in (*tables, integration_table(integration)):
            console.print(table)
        if written:
            console.print("wrote " + ", ".join(str(path) for path in written),
                          markup=False, highlight=False)
    return 0


def _attribution_plan(scenarios, differences: str | None):
    """The ablations of each step the paired differences show (against the first scenario,
    or with --differences previous each against the one before it)."""
    from factory_cli.attribution_output import ablation_plan

    indices = range(1, len(scenarios))
    steps = [(i - 1, i) if differences == "previous" else (0, i) for i in indices]
    return ablation_plan(steps, scenarios)


def _single(names, files, seed, runs, out) -> tuple[dict, list, list]:
    """One run per scenario: the figures themselves, side by side."""
    from factory_cli.charts import write_charts
    from factory_cli.kpi_table import kpi_table, span, write_compare_csv

    reports = [(name, scenario_runs[0]) for name, scenario_runs in zip(names, runs, strict=True)]
    data = {"seed": seed, "scenarios": [
        {"name": name, "file": file, **report}
        for (name, report), file in zip(reports, files, strict=True)]}
    written = []
    if out:
        write_compare_csv(out / "compare.csv", reports)
        written = [out / "compare.csv", *write_charts(reports, out)]
    spans = sorted({report["duration_s"] for _, report in reports})
    warmup = reports[0][1]["warmup_s"]
    warmed = f" after {span(warmup)} of warm-up" if warmup else ""
    title = f"Plant KPIs — seed {seed} for all, {', '.join(map(span, spans))} simulated{warmed}"
    return data, written, [kpi_table(title, [(name, report["plant"], "plant")
                                             for name, report in reports])]


def _replicated(names, files, seeds, runs, out, to_previous) -> tuple[dict, list, list]:
    """Replications: means, intervals and paired differences."""
    from factory_cli.charts import write_charts
    from factory_cli.experiment_output import (
        experiment_data,
        headline_rows,
        interval_tables,
        mean_report,
        write_interval_csv,
        write_replications_csv,
    )
    from factory_cli.interval_charts import difference_chart, interval_chart

    data = experiment_data(names, files, seeds, runs, to_previous)
    written = []
    if out:
        write_interval_csv(out / "compare.csv", data)
        write_replications_csv(out / "replications.csv", data)
        rows = headline_rows(list(data["scenarios"][0]["plant"]))
        means = [(s["name"], mean_report(s["plant"])) for s in data["scenarios"]]
        written = [out / "compare.csv", out / "replications.csv",
                   interval_chart(data, rows, out / "kpi_intervals.png"),
                   difference_chart(data, rows, out / "differences.png"),
                   *write_charts(means, out, [s["plant"] for s in data["scenarios"]])]
    return data, written, list(interval_tables(data))
