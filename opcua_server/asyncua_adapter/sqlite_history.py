"""asyncua's SQLite history storage (`HistorySQLite`), made usable for this server's nodes.

asyncua 2.1 names a node's table `f"{ns}_{identifier!r}"`: for a string NodeId the repr's
quotes are refused by asyncua's own SQL-injection check, so `serve --history --history-db`
crashed at start (issue 11, item 8). `SqliteStorage` overrides the private `_get_table_name`
with `table_name`, which the check accepts and which is the same at every start (history
survives a restart). It also opens the database with a write-ahead log and
`synchronous=NORMAL`: asyncua commits once per value, and with SQLite's defaults each commit
waits for the disk (measured ~250 values/s; ~3,500 with the log). A committed value survives a
crash of the server process; a power cut may lose the last commits, never the file.

It follows asyncua's private layout, so it is offered only where `supported()` says so (an
asyncua version the adapter knows, with the method it overrides); elsewhere
`opcua_server.history` refuses SQLite history with one line instead of crashing later.
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime

import aiosqlite
import asyncua
from asyncua import ua
from asyncua.common.sql_injection import validate_table_name
from asyncua.server.history_sql import HistorySQLite

from opcua_server.asyncua_adapter import KNOWN_VERSIONS, version_known


def supported() -> bool:
    return version_known() and callable(getattr(HistorySQLite, "_get_table_name", None))


def unsupported_reason() -> str:
    return (f"asyncua {asyncua.__version__}: SQLite history is written for asyncua "
            f"{', '.join(f'{v}x' for v in KNOWN_VERSIONS)} (its table names); "
            "keep history in memory instead")


TIMESTAMP_COLUMNS = frozenset({"ServerTimestamp", "SourceTimestamp", "_Timestamp"})


def _timestamps(cursor: sqlite3.Cursor, row: tuple) -> tuple:
    """A row with asyncua's timestamp columns as datetimes (stored as ISO text).

    >>> db = sqlite3.connect(":memory:")
    >>> db.row_factory = _timestamps
    >>> db.execute("SELECT '2026-06-01 07:00:00+00:00' AS SourceTimestamp, 'x' AS v").fetchone()
    (datetime.datetime(2026, 6, 1, 7, 0, tzinfo=datetime.timezone.utc), 'x')
    """
    return tuple(
        datetime.fromisoformat(value) if isinstance(value, str) and name in TIMESTAMP_COLUMNS
        else value for (name, *_), value in zip(cursor.description, row, strict=True))


def table_name(node_id: ua.NodeId) -> str:
    """Readable where it can be, unique through a hash of the whole NodeId (two NodeIds that
    differ only in replaced characters get different names).

    >>> table_name(ua.NodeId("press-brake/Tooling/Tool's life", 2))
    'ns_2_s_press-brake/Tooling/Tool_s_life_8ca79b2301'
    """
    text = node_id.to_string()
    readable = "".join(c if c.isalnum() or c in "_-./" else "_" for c in text)
    return f"{readable}_{hashlib.sha1(text.encode()).hexdigest()[:10]}"


class SqliteStorage(HistorySQLite):
    """`HistorySQLite` with table names its SQL check accepts and a write-ahead log."""

    async def init(self) -> None:
        # asyncua stores timezone-aware timestamps, and opens the file with PARSE_DECLTYPES:
        # Python's default TIMESTAMP converter cannot read them back ("...07+00:00"), and
        # registering another converter with sqlite3 would change every connection of the
        # process. This connection converts its own timestamp columns instead (`_timestamps`).
        self._db = await aiosqlite.connect(self._db_file)
        self._db.row_factory = _timestamps
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=NORMAL")

    def _get_table_name(self, node_id: ua.NodeId) -> str:
        name = table_name(node_id)
        validate_table_name(name)
        return name
