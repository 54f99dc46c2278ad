"""A cell's electricity: power per activity, the energy meter, and standby of an idle machine.

Each activity draws the power its scenario gives (`producing`, `setup`, `idle`, `down`,
`off_shift`); the meter integrates it to kWh at every change. Where the cell's connectivity
(or the local standby timer of a stand-alone machine) allows it, an idle machine drops to its
`standby` power once it has been idle `standby_after` seconds without another change; while
the plant network is down the offline rule applies (`factory_sim.coupling`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from factory_sim.events import StateChanged
from factory_sim.states import Activity

if TYPE_CHECKING:
    from factory_sim.cell import Cell
    from factory_sim.coupling import Coupling

A = Activity
POWER_OF = {
    A.PRODUCING: "producing", A.SHORT_STOP: "idle", A.SETUP: "setup", A.STARVED: "idle",
    A.BLOCKED: "idle", A.WAITING_OPERATOR: "idle", A.STOPPED: "idle", A.FAILED: "down",
    A.REPAIR: "down", A.MAINTENANCE: "down", A.BREAK: "idle", A.OFF_SHIFT: "off_shift",
}


class EnergyMeter:
    """The power a cell draws now and the kWh it has used; the host cell calls `switch`
    at each change of activity, then `arm_standby`."""

    def __init__(self, cell: Cell, online: Coupling, offline: Coupling):
        power = cell.spec.power
        self._cell = cell
        self._power = {a: getattr(power, key) for a, key in POWER_OF.items()}
        self._standby_after = online.standby_after
        self._standby_offline = offline.standby_after  # while the network is down
        self._standby_kw = power.standby if (
            self._standby_after is not None or self._standby_offline is not None) else None
        self.power_kw = 0.0
        self.energy_kwh = 0.0
        self._since = 0.0

    def switch(self, previous: Activity | None, activity: Activity, now: float) -> None:
        """Book the energy used in `previous` and draw the power of `activity` from `now`."""
        if previous is not None:
            self.energy_kwh += self.power_kw * (now - self._since) / 3600.0
        self._since = now
        self.power_kw = self._power[activity]

    def arm_standby(self, activity: Activity, changes: int) -> None:
        """An idle activity began (the cell's `changes`-th): start the standby timer."""
        if activity.is_idle and self._standby_kw is not None:
            cell = self._cell
            network = cell.ctx.network
            after = (self._standby_after if network is None or network.up
                     else self._standby_offline)
            if after is not None:
                cell.env.timeout(after).callbacks.append(lambda _event: self._standby(changes))

    def _standby(self, changes: int) -> None:
        """Still idle since the timer started: switch it to standby."""
        cell = self._cell
        if changes != cell.changes or self._standby_kw >= self.power_kw:
            return
        now = cell.env.now
        self.energy_kwh += self.power_kw * (now - self._since) / 3600.0
        self._since = now
        self.power_kw = self._standby_kw
        cell.publish(StateChanged(now, cell.id, cell.activity, self.power_kw, self.energy_kwh))

    def until_now(self) -> float:
        """kWh used since the start, the current activity's share included."""
        return self.energy_kwh + self.power_kw * (self._cell.env.now - self._since) / 3600.0
