"""Job data transfer, the coupling barrier itself.

At a machine not coupled to the office systems every job's program and parameters arrive
by hand (walked over, on a USB stick, typed in): a new job's setup takes `manual_transfer`
longer on average, a repeat job's (program already on the machine) `repeat_transfer`, each
varying by `transfer_cv`; with chance `wrong_parameter` the first part is made with a wrong
parameter and scrapped. A mapped vendor interface removes part of both; job data by wire
removes them.

>>> from factory_sim.scenario import JobDataSpec
>>> transfer = JobDataTransfer(JobDataSpec(manual_transfer=600, wrong_parameter=0.1), 0.5)
>>> transfer.extra_setup(0.3, 0.5), transfer.wrong_parameter
(300.0, 0.05)
"""

from __future__ import annotations

import math
from statistics import NormalDist

from factory_sim.scenario import JobDataSpec

_NORMAL = NormalDist()


class JobDataTransfer:
    __slots__ = ("_new", "_new_share", "_repeat", "_sigma", "wrong_parameter")

    def __init__(self, spec: JobDataSpec, by_hand: float):
        self._new = spec.manual_transfer * by_hand
        self._repeat = spec.repeat_transfer * by_hand
        self._new_share = spec.new_job_share
        self._sigma = math.sqrt(math.log(1.0 + spec.transfer_cv ** 2))
        self.wrong_parameter = spec.wrong_parameter * by_hand

    def extra_setup(self, u_kind: float, u_time: float) -> float:
        """The transfer's share of a change of job; `u_kind` and `u_time` are uniform draws
        made at every change of job, at every level (common random numbers)."""
        mean = self._new if u_kind < self._new_share else self._repeat
        if not mean or not self._sigma:
            return mean
        sigma = self._sigma
        u = min(max(u_time, 1e-12), 1.0 - 1e-12)
        return mean * math.exp(sigma * _NORMAL.inv_cdf(u) - 0.5 * sigma * sigma)

    def first_part_wrong(self, u: float) -> bool:
        """`u`: a uniform draw made at every change of job, at every level (common random
        numbers)."""
        return u < self.wrong_parameter
