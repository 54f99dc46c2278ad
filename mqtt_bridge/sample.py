"""The record that flows from the OPC UA source to the sinks (MQTT, time series).

A `Sample` is one value of one variable of one machine, as the OPC UA server reported it;
an `EventSample` is one OPC UA event (a state change event, an alarm condition update or a
job order status change); a
`Gap` says that a variable changed while its changes could not be read and the server cannot
give them back: no silent loss.
Both carry everything a sink needs to name, place and serialise them, so sinks never talk
OPC UA and the source never talks MQTT.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class MachinePath:
    """Where a machine sits in the ISA-95 hierarchy of the unified namespace."""

    enterprise: str
    site: str
    area: str
    line: str
    cell: str  # the machine's own name, from its BrowseName
    cell_type: str  # BrowseName of the machine's type definition

    def topic(self, *parts: str) -> str:
        return "/".join((self.enterprise, self.site, self.area, self.line, self.cell, *parts))


@dataclass(frozen=True, slots=True)
class Sample:
    """One data change of one variable."""

    machine: MachinePath
    group: str  # the building block the variable belongs to, e.g. "state", "counters"
    tag: str  # the variable's name within its group, e.g. "CurrentState"
    value: object  # JSON-serialisable (numbers, strings, booleans, lists of them)
    source_time: datetime | None
    server_time: datetime | None
    status: str  # OPC UA status code name, "Good" when good
    node_id: str = ""  # the variable's NodeId as a string, for tracing back
    # delivered after newer values of its variable (given back from history after a loss):
    # not the variable's value now, so an output does not retain it as its last value
    late: bool = False
    # a late value given back after the journal dropped it at its bound: the sequence number
    # it was dropped under (so a consumer counting numbers accounts for it), else None
    replaces: int | None = None

    @property
    def key(self) -> str:
        """Identifies the series: one per-topic sequence per key."""
        return self.machine.topic(self.group, self.tag)


# an OPC 10031-4 job order status event: in its cell's own sequence, `.../<cell>/jobs`
JOB_EVENT_TYPE = "ISA95JobOrderStatusEventType"
JOBS_GROUP = "jobs"


@dataclass(frozen=True, slots=True)
class EventSample:
    """One OPC UA event or condition update from a machine."""

    machine: MachinePath
    event_type: str  # BrowseName of the event type, e.g. "AlarmConditionType"
    time: datetime
    severity: int
    message: str
    fields: dict[str, object] = field(default_factory=dict)  # ConditionId, ActiveState, ...

    @property
    def key(self) -> str:
        if self.event_type == JOB_EVENT_TYPE:
            return self.machine.topic(JOBS_GROUP)
        is_alarm = "Condition" in self.event_type or "Alarm" in self.event_type
        return self.machine.topic("alarms" if is_alarm else "events")


@dataclass(frozen=True, slots=True)
class Gap:
    """Changes of one variable that are lost: it changed between `start` (the source time of
    the last value handed on) and `end` (that of the first value after), and neither the
    subscription nor the server's history can give back what happened in between.

    A gap in a machine's events has `group` "events" or "alarms" and no `tag`: events may
    have occurred after `start` (the time of the last event handed on) while the bridge could
    not read them, up to when it subscribed again (`end` None), and the server keeps no
    history of them to give back."""

    machine: MachinePath
    group: str
    tag: str
    start: datetime | None
    end: datetime | None
    reason: str  # for a person: why the values cannot be given back
    node_id: str = ""
    # the sequence numbers of the key it names (first, last), where the journal dropped them
    # at its bound and they do not come back: each number is named by a gap record or arrives
    seqs: tuple[int, int] | None = None

    @property
    def key(self) -> str:
        """The variable's series (or the machine's events or alarms): a gap takes its place
        in that sequence."""
        if not self.tag:
            return self.machine.topic(self.group)
        return self.machine.topic(self.group, self.tag)
