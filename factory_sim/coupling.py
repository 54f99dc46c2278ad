"""What a cell's mechanisms give the plant: the root of every level's effect.

>>> from factory_sim.mechanisms import level_mechanisms
>>> from factory_sim.scenario import InformationSpec, JobDataSpec, StandbySpec
>>> m = level_mechanisms(ConnectivityLevel.VENDOR, True)
>>> c = Coupling.of(ConnectivityLevel.VENDOR, m, InformationSpec(), JobDataSpec(), StandbySpec())
>>> c.live_delay, c.alarm_delay, c.job_data_by_hand, c.sequencing
(10.0, 10.0, 0.5, 'local')

- `live_delay`: how late the planner learns of a state change; None where it learns only
  from the paper shift report (`mechanisms.information`).
- `alarm_delay`: how late maintenance learns of a breakdown by alarm; None where somebody
  has to notice it (`mechanisms.notification`).
- `job_data_by_hand`: the share of the manual job data transfer left (1 by hand, reduced
  by a mapped vendor import, 0 by wire).
- `dispatch`, `sequencing`: how the cell picks its next lot (`factory_sim.dispatch`).
- `predictive`: condition monitoring turns foreseen failures into planned maintenance.
- `standby_after`: idle this long, the machine goes to standby; None: it never does.
- `offline`: the coupling while the network is down (`Mechanisms.offline`); itself when
  nothing of it needs the network.
"""

from __future__ import annotations

from dataclasses import dataclass

from factory_sim.mechanisms import Mechanisms
from factory_sim.scenario import InformationSpec, JobDataSpec, StandbySpec
from factory_sim.states import ConnectivityLevel


@dataclass(frozen=True, slots=True)
class Coupling:
    level: ConnectivityLevel
    mechanisms: Mechanisms
    live_delay: float | None
    alarm_delay: float | None
    job_data_by_hand: float
    dispatch: str
    sequencing: str
    predictive: bool
    standby_after: float | None
    offline: Coupling | None = None  # None: the same as this one

    @property
    def live(self) -> bool:
        return self.live_delay is not None

    def now(self, network_up: bool) -> Coupling:
        """The coupling in force: this one, or the offline one while the network is down."""
        return self if network_up or self.offline is None else self.offline

    @property
    def job_orders(self) -> bool:
        """The release is sequenced on this cell's live set-up (plant-wide sequencing)."""
        return self.sequencing == "plant"

    @classmethod
    def of(cls, level: ConnectivityLevel, mechanisms: Mechanisms, information: InformationSpec,
           job_data: JobDataSpec, standby: StandbySpec) -> Coupling:
        # A vendor interface is polled; a standard one publishes (and so does a wire the
        # switches add to a cell that has none at its level).
        latency = (information.vendor_poll if level is ConnectivityLevel.VENDOR
                   else information.opcua_publish)
        by_hand = {"by_hand": 1.0, "mapped": 1.0 - job_data.mapped_vendor_removes,
                   "wire": 0.0}[mechanisms.job_data]
        standby_after = {"none": None, "local": standby.local_after,
                         "plant": standby.after}[mechanisms.standby]
        offline = mechanisms.offline()
        return cls(
            offline=None if offline == mechanisms
            else cls.of(level, offline, information, job_data, standby),
            level=level, mechanisms=mechanisms,
            live_delay=latency if mechanisms.information == "live" else None,
            alarm_delay=latency if mechanisms.notification == "alarm" else None,
            job_data_by_hand=by_hand, dispatch=mechanisms.dispatch,
            sequencing=mechanisms.sequencing, predictive=mechanisms.maintenance == "predictive",
            standby_after=standby_after)
