"""`factory-sim run SCENARIO`: simulate as fast as possible, then show and save the KPIs."""

from __future__ import annotations

import argparse
from pathlib import Path

from factory_cli.errors import CliError
from factory_cli.limits import MAX_SEED, bounded
from factory_cli.scenario_files import add_set_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run a scenario as fast as possible and report its KPIs",
        description="Run SCENARIO (a YAML file or the name of a shipped scenario) without "
        "pacing and print its ISO 22400 KPIs for the plant and each cell. With --out, also "
        "write events.jsonl (every model event), kpis.json and kpis_cells.csv.",
    )
    add_simulation_options(parser)
    parser.add_argument("scenario", metavar="SCENARIO", help="scenario file or shipped name")
    parser.set_defaults(handler=run_command)


def add_simulation_options(parser: argparse.ArgumentParser,
                           seed_default: str = "the scenario's `seed`") -> None:
    """Options `run`, `compare` and `sweep` share, spelled and explained the same way."""
    parser.add_argument("--duration", metavar="D",
                        help="simulated time: 90m, 8h, 5d, 2w or 1y (365 calendar days), at "
                        "most 10y; default: the scenario's own `duration`")
    parser.add_argument("--warmup", metavar="D",
                        help="simulate D first and leave it out of the KPIs (queues fill up "
                        "to their usual level; at most 10y); the run is then D + the duration "
                        "long")
    parser.add_argument("--seed", type=int, metavar="N",
                        help=f"random seed, 0 to 2^64 - 1 (default: {seed_default})")
    add_set_option(parser)
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="folder for the output files (created if missing)")
    parser.add_argument("--format", choices=("table", "json"), default="table",
                        help="table (default) or json: only the KPIs as JSON on stdout")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def output_dir(path: Path | None) -> Path | None:
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"--out {path}: cannot create the folder ({exc.strerror})") from None
    return path


def run_lengths(args: argparse.Namespace) -> tuple[float | None, float]:
    """--duration (None: the scenario's) and --warmup (0 if not given), in seconds."""
    from factory_cli.durations import duration_option

    duration = None if args.duration is None else duration_option(args.duration)
    warmup = 0.0 if args.warmup is None else duration_option(args.warmup, "--warmup")
    if args.seed is not None:
        bounded("--seed", args.seed, 0, MAX_SEED)
    return duration, warmup


def run_command(args: argparse.Namespace) -> int:
    import json

    from factory_cli.kpi_table import (
        kpi_table,
        report_columns,
        span,
        state_time_table,
        write_cells_csv,
    )
    from factory_cli.scenario_files import open_scenario
    from factory_cli.simulation import progress_bar, simulate
    from factory_cli.terminal import pipe_may_close, stdout_console

    duration, warmup = run_lengths(args)
    scenario = open_scenario(args.scenario, args.sets)
    out = output_dir(args.out)
    with progress_bar(not args.quiet) as task:
        total = warmup + (scenario.duration if duration is None else duration)
        result = simulate(scenario, seed=args.seed, duration=duration, warmup=warmup,
                          events_path=out / "events.jsonl" if out else None,
                          on_progress=task(f"run {scenario.name}", total))
    data = result.as_dict()
    if out:
        (out / "kpis.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        write_cells_csv(out / "kpis_cells.csv", data["cells"])
    with pipe_may_close():
        if args.format == "json":
            print(json.dumps(data, indent=2))
            return 0
        console = stdout_console()
        warmed = f" after {span(warmup)} of warm-up" if warmup else ""
        title = (f"KPIs of {result.scenario} — seed {result.seed}, "
                 f"{span(result.duration_s)} simulated{warmed}, {result.events:,} events")
        console.print(kpi_table(title, report_columns(data)))
        console.print(state_time_table(data))
        if out:
            console.print(f"wrote {out / 'events.jsonl'}, {out / 'kpis.json'} and "
                          f"{out / 'kpis_cells.csv'}", markup=False, highlight=False)
    return 0
