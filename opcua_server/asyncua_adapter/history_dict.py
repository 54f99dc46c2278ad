"""The stores inside asyncua's in-memory history (`HistoryDict`), for the server's own history.

`opcua_server.history.MemoryHistory` keeps each node's values and each source's events in
bounded, time-ordered deques with a retention in plant time. asyncua's `HistoryDict` keeps
them in private dicts (`_datachanges`, `_events`) that its reads use; this is the one place
that reaches them, on an asyncua whose layout the adapter knows (`supported()`), else with
one clear error instead of an AttributeError deep in a write.
"""

from __future__ import annotations

from typing import Any

import asyncua
from asyncua import ua
from asyncua.server.history import HistoryDict

from opcua_server.asyncua_adapter import KNOWN_VERSIONS, version_known

_STORES = ("_datachanges", "_events")


def supported(storage: HistoryDict | None = None) -> bool:
    probe = storage if storage is not None else HistoryDict()
    return version_known() and all(isinstance(getattr(probe, name, None), dict)
                                   for name in _STORES)


def _store(storage: HistoryDict, name: str) -> dict[ua.NodeId, Any]:
    if not supported(storage):
        raise RuntimeError(
            f"asyncua {asyncua.__version__}: the in-memory history is written for asyncua "
            f"{', '.join(f'{v}x' for v in KNOWN_VERSIONS)} (HistoryDict's stores)")
    return getattr(storage, name)


def value_store(storage: HistoryDict) -> dict[ua.NodeId, Any]:
    """Node -> the values `storage` holds of it, which its reads return."""
    return _store(storage, "_datachanges")


def event_store(storage: HistoryDict) -> dict[ua.NodeId, Any]:
    """Source node -> the events `storage` holds of it, which its reads return."""
    return _store(storage, "_events")
