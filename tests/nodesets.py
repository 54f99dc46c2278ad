"""Where tests find the official OPC UA nodesets (reference data, never part of the project).

One place, in this order: the folder named by `FACTORY_SIM_NODESETS`, else `../shared/nodesets`
beside the project where it exists. Without either, the tests that need them skip with one
line saying how to get them:

    FACTORY_SIM_NODESETS=/path/to/UA-Nodeset-folder scripts/test
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ENV_VAR = "FACTORY_SIM_NODESETS"
PROJECT = Path(__file__).resolve().parents[1]
BESIDE_PROJECT = PROJECT.parent / "shared" / "nodesets"
#: a file every usable folder has (the Machinery nodeset the server and the bridge build on)
MARKER = "Opc.Ua.Machinery.NodeSet2.xml"
HOW_TO_GET = (f"official nodesets not found: set {ENV_VAR} to a folder holding {MARKER} and the "
              "other companion-spec NodeSet2.xml files (github.com/OPCFoundation/UA-Nodeset), "
              "or put them in ../shared/nodesets")


def nodesets_dir() -> Path | None:
    """The folder of official nodesets, or None when there is none."""
    named = os.environ.get(ENV_VAR)
    candidates = [Path(named)] if named else [BESIDE_PROJECT]
    return next((path for path in candidates if (path / MARKER).is_file()), None)


def require_nodesets() -> Path:
    """The folder of official nodesets, or skip the calling test with how to get them."""
    folder = nodesets_dir()
    if folder is None:
        pytest.skip(HOW_TO_GET)
    return folder
