"""The job a cell is working on: one order's operation on that cell."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Job:
    order_id: str
    variant: str
    planned: int  # parts of the lot when the job started
    completed: int = 0  # good parts made so far
