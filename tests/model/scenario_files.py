"""Paths to the shipped scenarios, and a way to make variants of them in a test."""

from pathlib import Path

import yaml

from factory_sim.shipped import shipped_scenarios_dir

SCENARIOS = shipped_scenarios_dir()


def reference(level: str = "opcua") -> Path:
    return SCENARIOS / f"reference-{level}.yaml"


def write_variant(tmp_path: Path, name: str, text: str) -> Path:
    """A scenario file in tmp_path that bases on the reference plant and overrides `text`."""
    path = tmp_path / f"{name}.yaml"
    data = yaml.safe_load(text) or {}
    data.setdefault("base", str(reference()))
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path
