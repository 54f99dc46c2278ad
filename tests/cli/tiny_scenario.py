"""A tiny scenario for fast tests: one line of two cells, one shift with a break, every day.

Cycle times are exact (no variation, no speed loss, no short stops), so the performance of
every cell must come out as exactly 1.0; failures are frequent enough to see some in a day.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

VENDOR = {"name": "acme", "manufacturer": "ACME", "model": "M1", "serial_number": "SN-1",
          "year_of_construction": 2020}
POWER = {"producing": 10.0, "setup": 3.0, "idle": 1.0, "down": 0.5, "off_shift": 0.1}
EXACT = {"cycle_variation": 0.0, "speed_loss": 0.0, "power": POWER, "vendor": VENDOR}

TINY = {
    "name": "tiny",
    "description": "Two cells, one shift a day, exact cycle times: for tests.",
    "seed": 3,
    "duration": "1d",
    "connectivity": "opcua",
    "calendar": {
        "workdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "shifts": [{"name": "early", "start": "06:00", "end": "14:00",
                    "breaks": [{"start": "10:00", "duration": "30m"}]}],
    },
    "products": [
        {"name": "plate", "family": "flat", "routing": ["laser", "packing"],
         "cycle": {"laser": "2m", "packing": "1m"}},
        {"name": "disc", "family": "round", "routing": ["laser", "packing"],
         "cycle": {"laser": "3m", "packing": "1m"}},
    ],
    "orders": {"interarrival": "30m", "mix": {"plate": 2, "disc": 1},
               "lot_sizes": {3: 1, 5: 1}, "due": "6h"},
    "operators": [{"name": "ann", "skills": ["laser", "packing"]}],
    "cells": [
        {"name": "laser", "kind": "punch_laser", "mtbf": "1h", "mttr": "20m", "scrap": 0.05,
         "setup": {"same_family": "2m", "other_family": "5m"}, **EXACT},
        {"name": "packing", "kind": "packing", "mtbf": "100h", "mttr": "10m", **EXACT},
    ],
}


def tiny(**changes) -> dict:
    """A copy of TINY with top-level keys changed."""
    data = copy.deepcopy(TINY)
    data.update(changes)
    return data


def write_tiny(path: Path, **changes) -> Path:
    path.write_text(yaml.safe_dump(tiny(**changes), sort_keys=False), encoding="utf-8")
    return path
