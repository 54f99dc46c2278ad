"""`factory-sim scenarios [DIR]`: the scenarios a user can run, with one line on each."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "scenarios",
        help="list the shipped scenarios (or those in DIR)",
        description="List scenario files with their connectivity level and description. "
        "Run one with `factory-sim run NAME`.",
    )
    parser.add_argument("dir", nargs="?", type=Path, metavar="DIR",
                        help="folder of scenario files (default: the shipped scenarios)")
    parser.set_defaults(handler=list_command)


def list_command(args: argparse.Namespace) -> int:
    from rich.table import Table
    from rich.text import Text

    from factory_cli.scenario_files import list_scenarios
    from factory_cli.terminal import pipe_may_close, stdout_console
    from factory_sim.shipped import shipped_scenarios_dir

    directory = args.dir or shipped_scenarios_dir()
    entries = list_scenarios(directory, nested=args.dir is None)
    console = stdout_console()
    if not entries:
        console.print(f"no scenario files (*.yaml) in {directory}")
        return 0
    title = f"Scenarios in {directory}" if args.dir else "Shipped scenarios (run one by name)"
    table = Table(title=title, title_justify="left")
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("file" if args.dir else "shipped name", no_wrap=True)
    table.add_column("connectivity", no_wrap=True)
    table.add_column("description")
    for entry in entries:
        description = Text(entry.description, style="" if entry.valid else "red")
        file = (entry.path.name if args.dir
                else entry.path.relative_to(directory).with_suffix("").as_posix())
        table.add_row(Text(entry.name), Text(file), entry.connectivity, description)
    with pipe_may_close():
        console.print(table)
    return 0
