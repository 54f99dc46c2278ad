"""The event log: every event the model publishes, one JSON object per line (JSON Lines).

The log is the model's complete, replayable account of a run: the same scenario and seed
give a byte-identical file, which is how reproducibility is tested, and `read_event_log`
turns a log back into typed events (for instance to recompute KPIs from it).

>>> import io
>>> from factory_sim.events import OrderReleased
>>> out = io.StringIO()
>>> log = EventLog(out)
>>> log(OrderReleased(0.0, "O-1", "bracket", 3, 28800.0))
>>> out.getvalue()
'{"event":"OrderReleased","time":0.0,"order_id":"O-1","variant":"bracket","quantity":3,"due":28800.0}\\n'
>>> list(read_event_log(io.StringIO(out.getvalue())))
[OrderReleased(time=0.0, order_id='O-1', variant='bracket', quantity=3, due=28800.0)]
"""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import IO

from factory_sim.events import EVENT_TYPES, Event

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class EventLog:
    """A subscriber that appends each event, as `Event.as_record()`, to a JSON Lines file.

    Pass a path (the file is created, and closed by `close()` or the `with` block) or an
    open text stream (left open). Records keep the events' field order, so output is
    deterministic.
    """

    def __init__(self, target: str | Path | IO[str]) -> None:
        if isinstance(target, str | Path):
            self._stream: IO[str] = open(target, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
            self._owned = True
        else:
            self._stream = target
            self._owned = False
        self._write = self._stream.write
        self._encode = _ENCODER.encode
        self.count = 0

    def __call__(self, event: Event) -> None:
        self._write(self._encode(event.as_record()))
        self._write("\n")
        self.count += 1

    def close(self) -> None:
        if self._owned:
            self._stream.close()
        else:
            self._stream.flush()

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _enum_fields(event_type: type[Event]) -> dict[str, type[Enum]]:
    hints = typing.get_type_hints(event_type)
    return {name: hint for name, hint in hints.items()
            if isinstance(hint, type) and issubclass(hint, Enum)}


_ENUM_FIELDS = {name: _enum_fields(cls) for name, cls in EVENT_TYPES.items()}


def read_event_log(source: str | Path | IO[str]) -> Iterator[Event]:
    """The typed events of a log written by `EventLog`, in order.

    Raises ValueError naming the line for anything that is not such a record.
    """
    if isinstance(source, str | Path):
        with open(source, encoding="utf-8") as stream:
            yield from read_event_log(stream)
        return
    for number, line in enumerate(source, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            event_type = EVENT_TYPES[record.pop("event")]
            for name, enum in _ENUM_FIELDS[event_type.__name__].items():
                record[name] = enum[record[name]]
            yield event_type(**record)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"event log line {number}: not an event record ({exc!r})") from exc
