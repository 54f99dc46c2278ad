"""Process-wide tuning, switched on only by the commands (the composition root).

Libraries (`opcua_server`, `mqtt_bridge`) never touch the garbage collector or patch asyncua
as a side effect of being imported or started: a command that wants the measured speed-ups
opts in here, and everything is undone when the command's work ends.

>>> import gc
>>> before = gc.get_threshold()
>>> with GcTuning() as tuning:
...     gc.get_threshold() == GC_THRESHOLDS
True
>>> gc.get_threshold() == before
True
"""

from __future__ import annotations

import atexit
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

# Full collections over the long-lived objects of a server or bridge under load take
# 50-500 ms and find nothing; ten times rarer than Python's default, young garbage is still
# collected as usual (docs/performance.md).
GC_THRESHOLDS = (2000, 10, 100)


class GcTuning:
    """Rare full collections while entered; `freeze()` moves the objects alive now (an address
    space just built, a bridge just connected) out of the collector's reach for good.
    Leaving restores Python's thresholds and unfreezes."""

    def __init__(self, thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> None:
        self.thresholds = thresholds
        self._saved: tuple[int, int, int] | None = None
        self._frozen = False

    def __enter__(self) -> GcTuning:
        self._saved = gc.get_threshold()
        gc.set_threshold(*self.thresholds)
        return self

    def freeze(self) -> None:
        gc.collect()
        gc.freeze()
        self._frozen = True

    def __exit__(self, *exc_info: object) -> None:
        if self._frozen:
            gc.unfreeze()
            self._frozen = False
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None


def skip_final_collection() -> None:
    """When the interpreter exits, freeze every object out of the collector's sight first, so
    that the full collection Python runs while it shuts down has nothing to traverse.

    A bridge that stops has delivered and closed everything; what is left is freed at exit
    anyway. Without this, that last collection walked every object the bridge still held: 2 to
    8 s of a stop after SIGTERM under load (py-spy: `gc_collect_main` after `asyncio.run`
    returned), longer than the stop itself. Registered once per process; nothing changes
    before the exit.
    """
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)


class Speedup(Protocol):
    """An adapter over a dependency's internals (one module per side, with a version check)."""

    def install(self) -> bool:
        """Patch the library if its installed version is one the adapter knows; say whether."""

    def uninstall(self) -> None:
        """Restore the library's own behaviour."""


@contextmanager
def speedups(*adapters: Speedup) -> Iterator[list[Speedup]]:
    """Install each adapter's patches for the duration of the block; yields those installed
    (an adapter that does not know the installed library version stands down)."""
    installed: list[Speedup] = []
    try:
        for adapter in adapters:
            if adapter.install():
                installed.append(adapter)
        yield installed
    finally:
        for adapter in reversed(installed):
            adapter.uninstall()
