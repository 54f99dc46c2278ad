"""Finding and loading scenario files for the command line.

A scenario is named either by a path to its YAML file or by the name of a shipped scenario
(package data in `factory_sim/scenarios/`, with or without `.yaml`: `reference-opcua`,
`multisite/lyon`, `labs/connect-cobot`).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from factory_cli.errors import CliError
from factory_sim.scenario import Scenario, ScenarioError, load_scenario, parse_override
from factory_sim.shipped import shipped_scenario


def scenario_path(name: str) -> Path:
    """The file `name` refers to: a path, or a shipped scenario's name."""
    path = Path(name)
    if path.is_file():
        return path
    if path.is_dir():
        raise CliError(f"scenario {name!r}: is a folder; expected a scenario file (.yaml) "
                       "or a shipped scenario's name")
    shipped = shipped_scenario(name)
    if shipped is not None:
        return shipped
    raise CliError(f"scenario {name!r}: no such file, nor a shipped scenario of that name "
                   "(`factory-sim scenarios` lists them)")


def add_set_option(parser: argparse.ArgumentParser) -> None:
    """`--set key.path=value`, repeatable: the one spelling for every command with a scenario."""
    parser.add_argument(
        "--set", action="append", default=[], dest="sets", metavar="KEY=VALUE",
        help="change one scenario value, checked as if it were in the file (repeatable): "
        "orders.interarrival=12m, cells.press-brake.mttr=45m, maintenance.technicians=2; "
        "a mapping merges (orders.mix.bracket=3) unless given with := , which replaces it "
        "(orders.mix:={bracket: 1})")


def open_scenario(name: str, sets: Sequence[str] = (), option: str = "--set",
                  extra: Sequence[str] = ()) -> Scenario:
    """Load and validate a scenario with `--set` overrides (then `extra` ones, given with
    `option`, e.g. --vary); problems become a CliError."""
    try:
        overrides = [*(parse_override(text) for text in sets),
                     *(parse_override(text, option) for text in extra)]
        return load_scenario(scenario_path(name), overrides)
    except ScenarioError as exc:
        raise CliError(str(exc)) from None


@dataclass(frozen=True)
class ScenarioEntry:
    path: Path
    name: str
    connectivity: str
    description: str  # the scenario's one-line description, or why it cannot be loaded
    valid: bool


def list_scenarios(directory: Path, nested: bool = False) -> list[ScenarioEntry]:
    """Every *.yaml/*.yml scenario in `directory` (and its subfolders if `nested`), by file
    name; invalid ones say why."""
    if not directory.is_dir():
        raise CliError(f"{directory}: no such directory")
    entries = []
    glob = directory.rglob if nested else directory.glob
    for path in sorted([*glob("*.yaml"), *glob("*.yml")],
                       key=lambda p: (len(p.relative_to(directory).parts), p)):
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            first = str(exc).splitlines()[0].removeprefix(f"{path}: ")
            entries.append(ScenarioEntry(path, path.stem, "", f"invalid: {first}", False))
            continue
        description = " ".join(scenario.description.split())
        levels = {scenario.level_of(cell) for cell in scenario.cells}
        connectivity = "mixed" if len(levels) > 1 else levels.pop().label
        entries.append(ScenarioEntry(path, scenario.name, connectivity, description, True))
    return entries
