"""Finding and loading scenario files for the command line.

A scenario is named either by a path to its YAML file or by the name of a shipped scenario
(a file in the repository's `scenarios/` folder, with or without `.yaml`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from factory_cli.errors import CliError
from factory_sim.scenario import Scenario, ScenarioError, load_scenario


def shipped_scenarios_dir() -> Path:
    """The repository's `scenarios/` folder (next to the installed packages), else ./scenarios."""
    beside_package = Path(__file__).resolve().parents[1] / "scenarios"
    return beside_package if beside_package.is_dir() else Path("scenarios")


def scenario_path(name: str, directory: Path | None = None) -> Path:
    """The file `name` refers to: a path, or a shipped scenario's name."""
    path = Path(name)
    if path.is_file():
        return path
    directory = directory or shipped_scenarios_dir()
    for candidate in (directory / name, directory / f"{name}.yaml"):
        if path.name == name and candidate.is_file():
            return candidate
    raise CliError(f"scenario {name!r}: no such file, nor a shipped scenario of that name "
                   "(`factory-sim scenarios` lists them)")


def open_scenario(name: str) -> Scenario:
    """Load and validate a scenario; every problem becomes a CliError without traceback."""
    try:
        return load_scenario(scenario_path(name))
    except ScenarioError as exc:
        raise CliError(str(exc)) from None


@dataclass(frozen=True)
class ScenarioEntry:
    path: Path
    name: str
    connectivity: str
    description: str  # the scenario's one-line description, or why it cannot be loaded
    valid: bool


def list_scenarios(directory: Path) -> list[ScenarioEntry]:
    """Every *.yaml/*.yml scenario in `directory`, by file name; invalid ones say why."""
    if not directory.is_dir():
        raise CliError(f"{directory}: no such directory")
    entries = []
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
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
