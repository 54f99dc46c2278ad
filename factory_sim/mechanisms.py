"""The mechanisms by which connectivity changes what happens, each a named switch.

A connectivity level is only a bundle of settings of these switches; every effect of a level
step comes from one of them (or from their interaction), which `factory-sim compare
--attribute` measures by switching them one at a time on paired seeds.

>>> from factory_sim.states import ConnectivityLevel
>>> m = level_mechanisms(ConnectivityLevel.STANDALONE, mapped=False)
>>> m.notification, m.job_data, m.dispatch, m.sequencing, m.standby
('operator', 'by_hand', 'paper', 'local', 'local')
>>> level_mechanisms(ConnectivityLevel.UNIFIED, mapped=False).maintenance
'predictive'
>>> level_mechanisms(ConnectivityLevel.UNIFIED, mapped=False).offline() == m
True

While the network is down (`factory_sim.network`), a cell runs on `Mechanisms.offline()`:
what the stand-alone shop does, not nothing and not full knowledge.

The switches and their settings (defaults per level in `LEVEL_DEFAULTS`; what each default
rests on in `SOURCES`):

- `notification`: a breakdown is noticed by an `operator` walking by (a mean of
  `maintenance.detection_standalone` working time) or reaches maintenance as an `alarm`
  within the cell's publishing or polling interval.
- `job_data`: programs and job parameters arrive `by_hand` (`job_data.manual_transfer`,
  wrong first parts), through a `mapped` vendor import (part of that is left) or by `wire`.
- `information`: the planner learns what happened from the paper `shift_report` (late,
  with transcription errors) or `live`.
- `dispatch`: a cell works its queue `fifo`, by the due date on the `paper` that travels
  with the lot (what a good shop does without a network), or on `live` knowledge (due
  dates, and around a next cell the plant believes down).
- `sequencing`: `none`; `local`: an operator who knows what is set up at their machine
  groups families among lots due within `dispatch.sequencing_slack`; `plant`: also the
  release, which needs the first cell's live set-up (an application of the unified level).
- `maintenance`: `reactive`, or `predictive` condition monitoring (an application of the
  unified level: foreseen failures become planned maintenance, false alarms cost one too).
- `standby`: `none`; `local`: the machine's own timer (`standby.local_after`); `plant`:
  the plant, which knows no work is coming, switches an idle machine after `standby.after`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from factory_sim.scenario import MechanismsSpec
from factory_sim.states import ConnectivityLevel


@dataclass(frozen=True, slots=True)
class Mechanisms:
    """The resolved switches of one cell."""

    notification: str
    job_data: str
    information: str
    dispatch: str
    sequencing: str
    maintenance: str
    standby: str

    def offline(self) -> Mechanisms:
        """These switches while the network (or the server, or the MES) is down: every
        setting that needs it falls back to what the stand-alone shop does; the others
        (the operator's and the machine's own) stay."""
        changes = {name: getattr(_UNCOUPLED, name) for name, online in NEEDS_NETWORK.items()
                   if getattr(self, name) in online}
        return replace(self, **changes) if changes else self

    def overridden(self, spec: MechanismsSpec) -> Mechanisms:
        """These switches with every one `spec` sets replaced."""
        changes = {name: value for name, value in spec.model_dump().items() if value is not None}
        return replace(self, **changes) if changes else self


MECHANISMS: tuple[str, ...] = tuple(f.name for f in fields(Mechanisms))

_UNCOUPLED = Mechanisms(notification="operator", job_data="by_hand", information="shift_report",
                        dispatch="paper", sequencing="local", maintenance="reactive",
                        standby="local")
# The settings that work only while the network is up (`Mechanisms.offline`).
NEEDS_NETWORK: dict[str, frozenset[str]] = {
    "notification": frozenset({"alarm"}), "job_data": frozenset({"mapped", "wire"}),
    "information": frozenset({"live"}), "dispatch": frozenset({"live"}),
    "sequencing": frozenset({"plant"}), "maintenance": frozenset({"predictive"}),
    "standby": frozenset({"plant"}),
}
_LIVE = replace(_UNCOUPLED, notification="alarm", job_data="wire", information="live",
                dispatch="live", standby="plant")

# (level, mapped) -> the switches of a cell at that level. An unmapped vendor cell is as
# uncoupled as a stand-alone one: its interface exists but nobody reads it.
LEVEL_DEFAULTS: dict[tuple[ConnectivityLevel, bool], Mechanisms] = {
    (ConnectivityLevel.STANDALONE, False): _UNCOUPLED,
    (ConnectivityLevel.VENDOR, False): _UNCOUPLED,
    (ConnectivityLevel.VENDOR, True): replace(_LIVE, job_data="mapped"),
    (ConnectivityLevel.OPCUA, False): _LIVE,
    (ConnectivityLevel.UNIFIED, False): replace(_LIVE, sequencing="plant",
                                                maintenance="predictive"),
}

# What each default rests on: a source, or a teaching assumption said as such.
SOURCES: dict[str, str] = {
    "notification": "Teaching assumption: an unattended breakdown is noticed after 20 min on "
    "average (maintenance.detection_standalone); an OPC UA alarm (OPC 10000-9 Alarms & "
    "Conditions) arrives within the publishing interval.",
    "job_data": "Teaching assumption: 5 min to carry a new job's program by hand (walk, USB "
    "stick, typing), 1 min to check a repeat job's parameters, 30 % of the changes new jobs, "
    "and 3 % wrong first parts; OPC 40001-3 Job Management carries job orders by wire.",
    "information": "Teaching assumption: shift reports with 5 % transcription error and 10 % "
    "of short stops written down; KPIs per ISO 22400-2 from what the planner knows.",
    "dispatch": "Earliest due date from a paper dispatch list is ordinary shop practice "
    "(Hopp & Spearman, Factory Physics, ch. 15); live dispatch adds the cross-cell knowledge "
    "of which next cell is down.",
    "sequencing": "Family grouping within a due-date slack (8 h, a teaching assumption) is "
    "what an operator and a foreman do on paper; setup-dependent scheduling: Allahverdi et "
    "al., EJOR 187 (2008). Plant-wide: the release too, on the first cell's live set-up.",
    "maintenance": "Teaching assumption: condition monitoring foresees 60 % of failures 4 h "
    "ahead, raises false alarms at maintenance.predictive.false_alarms_per_week, and its "
    "planned maintenance waits for the next break when the warning allows.",
    "standby": "Machine-local standby timers are standard in CNC controls (ISO 14955-1 "
    "energy-efficient machine tool design); the 15 min local and 5 min plant timers are "
    "teaching assumptions (PROFIenergy-style switching by a plant that knows no work comes).",
}


def level_mechanisms(level: ConnectivityLevel, mapped: bool) -> Mechanisms:
    """The switches a cell has at `level` (`mapped`: its vendor interface has an adapter)."""
    return LEVEL_DEFAULTS[(level, mapped and level is ConnectivityLevel.VENDOR)]


def cell_mechanisms(level: ConnectivityLevel, mapped: bool, plant: MechanismsSpec,
                    cell: MechanismsSpec) -> Mechanisms:
    """A cell's switches: its level's, then the scenario's overrides, then the cell's own."""
    return level_mechanisms(level, mapped).overridden(plant).overridden(cell)
