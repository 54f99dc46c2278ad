"""`factory-sim compare SCENARIO...`: the same orders and failures, different connectivity.

All scenarios run with one seed, so they see common random numbers: differences in the KPIs
come from the scenarios, not from luck.
"""

from __future__ import annotations

import argparse

from factory_cli.commands.run import add_simulation_options, output_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="run several scenarios with the same seed and compare their KPIs",
        description="Run every SCENARIO with one seed (common random numbers) and print "
        "their plant KPIs side by side. With --out, also write compare.json, compare.csv "
        "and charts (oee.png, throughput.png, lead_time.png, mttr.png, "
        "information_latency.png).",
    )
    add_simulation_options(parser, seed_default="the first scenario's `seed`, for all")
    parser.add_argument("scenarios", nargs="+", metavar="SCENARIO",
                        help="scenario files or shipped names")
    parser.set_defaults(handler=compare_command)


def _unique_names(names: list[str]) -> list[str]:
    """Scenario names as column headings; repeats get #2, #3 so no column hides another."""
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return unique


def compare_command(args: argparse.Namespace) -> int:
    import json

    from factory_cli.charts import write_charts
    from factory_cli.durations import duration_option
    from factory_cli.kpi_table import kpi_table, span, write_compare_csv
    from factory_cli.scenario_files import open_scenario
    from factory_cli.simulation import progress_bar, simulate
    from factory_cli.terminal import pipe_may_close, stdout_console

    duration = None if args.duration is None else duration_option(args.duration)
    scenarios = [open_scenario(name) for name in args.scenarios]  # all errors before any run
    seed = scenarios[0].seed if args.seed is None else args.seed
    out = output_dir(args.out)
    results = []
    with progress_bar(not args.quiet) as task:
        for scenario in scenarios:
            total = scenario.duration if duration is None else duration
            results.append(simulate(scenario, seed=seed, duration=duration,
                                    on_progress=task(f"run {scenario.name}", total)))
    names = _unique_names([result.scenario for result in results])
    reports = [(name, result.as_dict()) for name, result in zip(names, results, strict=True)]
    data = {"seed": seed, "scenarios": [
        {"name": name, "file": file, **report}
        for (name, report), file in zip(reports, args.scenarios, strict=True)]}
    written = []
    if out:
        (out / "compare.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        write_compare_csv(out / "compare.csv", reports)
        written = [out / "compare.json", out / "compare.csv", *write_charts(reports, out)]
    with pipe_may_close():
        if args.format == "json":
            print(json.dumps(data, indent=2))
            return 0
        spans = sorted({result.duration_s for result in results})
        title = f"Plant KPIs — seed {seed} for all, {', '.join(map(span, spans))} simulated"
        stdout_console().print(kpi_table(title, [(name, report["plant"], "plant")
                                                 for name, report in reports]))
        if written:
            stdout_console().print("wrote " + ", ".join(str(path) for path in written),
                                   markup=False, highlight=False)
    return 0
