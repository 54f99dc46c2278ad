"""The scenarios shipped with factory-sim: package data, found wherever the package is installed.

A shipped scenario is named by its path inside the package's `scenarios/` folder, without
`.yaml`: ``reference-opcua``, ``multisite/lyon``, ``labs/connect-cobot``.

>>> shipped_scenario("reference-opcua").name
'reference-opcua.yaml'
>>> shipped_scenario("multisite/lyon.yaml").parent.name
'multisite'
>>> shipped_scenario("../pyproject") is None
True
"""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*(/[a-z0-9][a-z0-9_.-]*)*", re.IGNORECASE)


def shipped_scenarios_dir() -> Path:
    """The installed `factory_sim/scenarios/` folder."""
    folder = files(__package__) / "scenarios"
    if not isinstance(folder, Path):  # e.g. imported from a zip file
        raise RuntimeError(f"factory_sim's scenarios are not files on disk ({folder}); "
                           "install factory-sim as a wheel or from a source tree")
    return folder


def shipped_scenario(name: str) -> Path | None:
    """The shipped scenario file `name` (with or without `.yaml`) refers to, else None."""
    if not _NAME.fullmatch(name) or ".." in name.split("/"):
        return None
    folder = shipped_scenarios_dir()
    for candidate in (folder / name, folder / f"{name}.yaml"):
        if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
            return candidate
    return None
