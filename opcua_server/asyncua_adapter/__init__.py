"""Every use of asyncua's private internals on the server side, in one place.

Three kinds: `hardening` (limits asyncua does not enforce, always on, per server instance:
`HardenedServer`), `sqlite_history` (asyncua's SQLite history storage with table names it
accepts, per storage instance: `SqliteStorage`), and the speed-ups below (process-wide, so only
a command opts in).

The process-wide patches (the measured speed-ups of docs/performance.md, server levers 1 and 4
and event fields kept by reference, and `queue_overflow`, which makes a discarding queue say
so as OPC UA Part 4 asks) change asyncua classes for the whole process, so a library object
never installs them: a command opts in through `factory_cli.tuning.speedups(SPEEDUPS)` and they
are undone when it ends.

>>> from factory_cli.tuning import speedups
>>> with speedups(SPEEDUPS) as installed:
...     SPEEDUPS.installed() == bool(installed)
True
>>> SPEEDUPS.installed()
False

They follow asyncua's private layouts, so they install only on an asyncua version the tests
cover (`KNOWN_VERSIONS`) whose layout each part still recognises (its `supported()`); anything
else keeps asyncua's own code, slower but correct.
"""

from __future__ import annotations

import logging

import asyncua

from opcua_server.asyncua_adapter import datachange, encoding, event_fields, queue_overflow

_logger = logging.getLogger(__name__)

#: asyncua releases whose internals the adapter was written against and tested with
KNOWN_VERSIONS = ("2.1.",)


def version_known(version: str | None = None) -> bool:
    """Whether `version` (default: the installed asyncua's) is one the adapter knows.

    >>> version_known("2.1.0"), version_known("2.2.0")
    (True, False)
    """
    return (version or asyncua.__version__).startswith(KNOWN_VERSIONS)


class Speedups:
    """The speed-ups as one `factory_cli.tuning.Speedup`: all or nothing."""

    parts = (datachange, encoding, event_fields, queue_overflow)

    def supported(self) -> bool:
        return version_known() and all(part.supported() for part in self.parts)

    def install(self) -> bool:
        if not self.supported():
            _logger.info("asyncua %s: speed-ups not installed (written for %s)",
                         asyncua.__version__, ", ".join(f"{v}x" for v in KNOWN_VERSIONS))
            return False
        for part in self.parts:
            part.install()
        return True

    def uninstall(self) -> None:
        for part in self.parts:
            part.uninstall()

    def installed(self) -> bool:
        return any(part.installed() for part in self.parts)


SPEEDUPS = Speedups()
