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
                        help="folder of scenario files (default: the shipped scenarios/)")
    parser.set_defaults(handler=list_command)


def list_command(args: argparse.Namespace) -> int:
    from rich.table import Table
    from rich.text import Text

    from factory_cli.scenario_files import list_scenarios, shipped_scenarios_dir
    from factory_cli.terminal import pipe_may_close, stdout_console

    directory = args.dir or shipped_scenarios_dir()
    entries = list_scenarios(directory)
    console = stdout_console()
    if not entries:
        console.print(f"no scenario files (*.yaml) in {directory}")
        return 0
    table = Table(title=f"Scenarios in {directory}", title_justify="left")
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("file", no_wrap=True)
    table.add_column("connectivity", no_wrap=True)
    table.add_column("description")
    for entry in entries:
        description = Text(entry.description, style="" if entry.valid else "red")
        table.add_row(Text(entry.name), Text(entry.path.name), entry.connectivity, description)
    with pipe_may_close():
        console.print(table)
    return 0
