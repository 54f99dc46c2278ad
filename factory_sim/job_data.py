"""Job data transfer, the coupling barrier itself.

At a machine not coupled to the office systems every new job's program and parameters
arrive by hand (walked over, on a USB stick, typed in): the setup takes `manual_transfer`
longer and, with chance `wrong_parameter`, the first part is made with a wrong parameter
and scrapped. A mapped vendor interface removes part of both; OPC UA and unified machines
receive their job data by wire.

>>> from factory_sim.scenario import JobDataSpec
>>> transfer = JobDataTransfer(JobDataSpec(manual_transfer=600, wrong_parameter=0.1), 0.5)
>>> transfer.extra_setup, transfer.wrong_parameter
(300.0, 0.05)
"""

from __future__ import annotations

from factory_sim.scenario import JobDataSpec


class JobDataTransfer:
    __slots__ = ("extra_setup", "wrong_parameter")

    def __init__(self, spec: JobDataSpec, by_hand: float):
        self.extra_setup = spec.manual_transfer * by_hand
        self.wrong_parameter = spec.wrong_parameter * by_hand

    def first_part_wrong(self, u: float) -> bool:
        """`u`: a uniform draw made at every change of job, at every level (common random
        numbers)."""
        return u < self.wrong_parameter
