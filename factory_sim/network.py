"""The plant network and its outages: connectivity's own failure mode.

While the network (or the OPC UA server, the broker, the MES) is down, connected cells fall
back to what the stand-alone shop does (`Mechanisms.offline`): breakdowns are noticed by
somebody walking by, job data is carried by hand, dispatch goes by the due date on the
paper, the machines' own standby timers take over, condition monitoring warns nobody, and
the planner learns nothing new until the network is back (then what was held is forwarded)
or a shift ends (then from the paper shift report). Outages start at random
(`outages_per_year`, calendar time) and last `mean_outage` on average (exponential), drawn
from their own random stream, so that a scenario without connected cells sees the same
orders and failures as one with them; `scheduled` ones come at stated times. A line none
of whose cells needs the network (stand-alone) has no outages.

>>> import simpy
>>> from factory_sim.scenario import NetworkSpec, OutageSpec
>>> env = simpy.Environment()
>>> network = Network(env, NetworkSpec(scheduled=[OutageSpec(at=60, duration=30)]), rng=None)
>>> env.run(70)
>>> network.up, network.outages
(False, 1)
>>> env.run(100)
>>> network.up, network.down_s
(True, 30.0)
"""

from __future__ import annotations

from collections.abc import Callable

import simpy

from factory_sim.events import Event, NetworkChanged
from factory_sim.scenario import NetworkSpec

YEAR = 365 * 86400.0


class Network:
    def __init__(self, env: simpy.Environment, spec: NetworkSpec, rng,
                 publish: Callable[[Event], None] | None = None, name: str = "",
                 connected: bool = True):
        self._env = env
        self._publish = publish
        self.name = name
        self.up = True
        self.outages = 0
        self.down_s = 0.0  # total time down so far (finished outages)
        self.down_since: float | None = None  # the start of the outage under way
        self.listeners: list[Callable[[bool], None]] = []  # called with `up` at each change
        self._causes = 0  # outages under way (random and scheduled ones may overlap)
        if not connected:
            return  # no cell needs it: nothing to lose
        if spec.outages_per_year > 0:
            env.process(self._random_outages(spec, rng))
        for outage in spec.scheduled:
            env.process(self._outage(outage.at, outage.duration))

    def _random_outages(self, spec: NetworkSpec, rng):
        env = self._env
        while True:
            yield env.timeout(rng.expovariate(spec.outages_per_year / YEAR))
            yield from self._outage(0.0, rng.expovariate(1.0 / spec.mean_outage))

    def _outage(self, after: float, duration: float):
        env = self._env
        if after > 0:
            yield env.timeout(after)
        self._causes += 1
        if self._causes == 1:
            self.outages += 1
            self.down_since = env.now
            self._change(False)
        yield env.timeout(duration)
        self._causes -= 1
        if self._causes == 0:
            self.down_s += env.now - self.down_since
            self.down_since = None
            self._change(True)

    def _change(self, up: bool) -> None:
        self.up = up
        if self._publish is not None:
            self._publish(NetworkChanged(self._env.now, self.name, up))
        for listener in self.listeners:
            listener(up)
