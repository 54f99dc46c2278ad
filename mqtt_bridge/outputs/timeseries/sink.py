"""Writes the journal to an InfluxDB 2.x-compatible time series (influxdb-client), in batches.

Batches of up to `InfluxSettings.batch_size` lines (encoded once, at append, by this sink's
encoder `line_protocol.line`: the journal holds every entry's line) are joined and written
through influxdb-client's synchronous write API in a worker thread; the journal is acknowledged
only after the write succeeded. While the database is unreachable or overloaded (connection
errors, 5xx, 429, 401/403/404 — a token or bucket that may yet be fixed) the same batch is
retried with exponential backoff, so nothing is lost and the order is kept. Lines the database
rejects as malformed (other 4xx) would block the journal forever, so the batch is split to find
them; they are counted in `stats()["rejected"]` and skipped.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from mqtt_bridge.journal.interface import SinkJournal
from mqtt_bridge.outputs.journal_sink import JournalSink, Outage
from mqtt_bridge.outputs.timeseries.line_protocol import line
from mqtt_bridge.outputs.timeseries.settings import InfluxSettings

log = logging.getLogger(__name__)

# Statuses after which the same write may succeed later: keep the data and retry.
_RETRY_STATUSES = {401, 403, 404, 408, 429}


class _Unavailable(Exception):
    """The database did not take the batch now; retry it later."""


class TimeSeriesSink(JournalSink):
    """Drains the journal into the time series; see the module docstring for the guarantees.

        async with TimeSeriesSink(journal, InfluxSettings(url=..., token=...)) as sink:
            await sink.flush(timeout=10)
    """

    encode = staticmethod(line)

    def __init__(
        self, journal: SinkJournal, settings: InfluxSettings, cursor: str = "timeseries"
    ) -> None:
        super().__init__(journal, cursor)
        self.settings = settings
        self._written = 0
        self._rejected = 0
        self._failures = 0
        self.healthy = False
        self._outage = Outage(f"time series {settings.url}")

    def stats(self) -> dict[str, Any]:
        """Lines written and rejected, failed write attempts, state, backlog."""
        return {
            **super().stats(),
            "healthy": self.healthy,
            "written": self._written,
            "rejected": self._rejected,
            "failures": self._failures,
        }

    async def _run(self) -> None:
        settings = self.settings
        client = InfluxDBClient(
            url=settings.url, token=settings.token, org=settings.org,
            timeout=int(settings.timeout * 1000), verify_ssl=settings.verify_ssl,
            ssl_ca_cert=settings.ssl_ca_cert, retries=False,
        )
        write_api = client.write_api(write_options=SYNCHRONOUS)
        delay = settings.retry_min_delay
        try:
            while not self._closing:
                entries = self._read()
                if len(entries) < settings.batch_size and settings.flush_interval > 0:
                    # Let a small batch fill up a little: fewer, larger writes.
                    await self._pause(settings.flush_interval)
                    entries = self._read()
                if not entries:
                    await self._wait_for_work()
                    continue
                try:
                    rejected = await asyncio.to_thread(self._write, write_api, entries)
                except Exception as exc:  # _Unavailable, or a bug that must not end delivery
                    if not isinstance(exc, _Unavailable):
                        log.exception("time-series sink failed; retrying")
                    self.healthy = False
                    self.last_error = str(exc)
                    self._failures += 1
                    self._outage.failed(str(exc))
                    await self._pause(delay)
                    delay = min(delay * 2, settings.retry_max_delay)
                    continue
                delay = settings.retry_min_delay
                self.healthy = True
                self._outage.over(self.journal.waiting(self.cursor))
                if rejected:
                    log.warning("time series %s rejected %d of %d lines as malformed and they "
                                "are skipped (%d so far): %s", settings.url, rejected,
                                len(entries), self._rejected + rejected, self.last_error)
                else:
                    self.last_error = None
                self._rejected += rejected
                self._written += len(entries) - rejected
                self._confirmed(entries[-1][0])
        finally:
            await asyncio.to_thread(client.close)

    def _read(self) -> list[tuple[int, str]]:
        """The next batch as (rowid, line) pairs."""
        return self.journal.read_texts(self.cursor, self.settings.batch_size)

    def _write(self, write_api: Any, entries: list[tuple[int, str]]) -> int:
        """Write the entries' lines (in the worker thread); returns how many were rejected."""
        return self._write_lines(write_api, [line for _rowid, line in entries])

    def _write_lines(self, write_api: Any, lines: list[str]) -> int:
        settings = self.settings
        try:
            write_api.write(bucket=settings.bucket, org=settings.org, record="\n".join(lines),
                            write_precision=WritePrecision.NS)
        except ApiException as exc:
            status = exc.status or 0
            if status >= 500 or status in _RETRY_STATUSES or status < 400:
                raise _Unavailable(
                    f"time series {settings.url}: HTTP {status} {exc.reason}"
                ) from None
            if len(lines) == 1:
                self.last_error = f"time series {settings.url} rejected {lines[0]!r}: {status}"
                return 1
            middle = len(lines) // 2
            return (self._write_lines(write_api, lines[:middle])
                    + self._write_lines(write_api, lines[middle:]))
        except Exception as exc:  # urllib3 connection errors, timeouts, TLS failures
            raise _Unavailable(f"time series {settings.url}: {exc}") from None
        return 0
