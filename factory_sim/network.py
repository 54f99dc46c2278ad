"""The plant network and its outages: connectivity's own failure mode.

While the network (or the OPC UA server, or the broker) is down, connected cells fall back
to the paper route: breakdowns are noticed by somebody walking by, job data is carried by
hand, and dispatch goes by the due date on the paper instead of live knowledge. Outages
start at random (`outages_per_year`, calendar time) and last `mean_outage` on average
(exponential), drawn from their own random stream, so that a scenario without connected
cells sees the same orders and failures as one with them.

>>> import simpy
>>> from factory_sim.scenario import NetworkSpec
>>> network = Network(simpy.Environment(), NetworkSpec(), rng=None)
>>> network.up
True
"""

from __future__ import annotations

import simpy

from factory_sim.scenario import NetworkSpec

YEAR = 365 * 86400.0


class Network:
    def __init__(self, env: simpy.Environment, spec: NetworkSpec, rng):
        self.up = True
        self.outages = 0
        self.down_s = 0.0  # total time down so far (finished outages)
        self.down_since: float | None = None  # the start of the outage under way
        if spec.outages_per_year > 0:
            env.process(self._outages(env, spec, rng))

    def _outages(self, env: simpy.Environment, spec: NetworkSpec, rng):
        while True:
            yield env.timeout(rng.expovariate(spec.outages_per_year / YEAR))
            self.up = False
            self.down_since = env.now
            self.outages += 1
            duration = rng.expovariate(1.0 / spec.mean_outage)
            yield env.timeout(duration)
            self.down_s += duration
            self.up = True
            self.down_since = None
