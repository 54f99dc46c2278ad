"""Each cell's job queue, as the factory sees it on the unified namespace: the job orders
(OPC 40001-3) the bridge publishes on `.../{cell}/jobs`, one message per change of state.

`JobQueue` keeps, per cell, each job order's last known state and counts, bounded (cells,
job orders per cell: finished ones go first); `dashboard.job_queue_view` shows them in a
plant's details.
A stand-alone cell has no such interface: its jobs come on paper, so it has no queue here.

>>> queue = JobQueue()
>>> queue.apply("press-brake", JobEvent.model_validate({"fields": {
...     "JobOrderID": "O-1/press-brake", "State": "Running", "StateNumber": 3,
...     "RunsPlanned": 5, "RunsCompleted": 2, "ScrapCount": 0}}))
>>> [(row.job_order_id, row.state, row.good, row.planned) for row in queue.rows("press-brake")]
[('O-1/press-brake', 'Running', 2, 5)]
"""

from __future__ import annotations

from dataclasses import dataclass

from dashboard.uns_messages import JobEvent, RejectedMessage

MAX_CELLS = 200  # cells with a queue, a plant
MAX_JOB_ORDERS = 40  # kept per cell; past that the oldest finished one goes
FINISHED = (5, 6)  # Ended, Aborted


@dataclass(slots=True)
class JobRow:
    job_order_id: str
    state: str
    state_number: int
    variant: str
    planned: int | None
    good: int | None
    scrap: int | None


class JobQueue:
    """The job orders of every cell of one plant, from the UNS."""

    def __init__(self) -> None:
        self.cells: dict[str, dict[str, JobRow]] = {}

    def apply(self, cell: str, event: JobEvent) -> None:
        fields = event.fields
        if fields is None:  # a gap record
            return
        orders = self.cells.get(cell)
        if orders is None:
            if len(self.cells) >= MAX_CELLS:
                raise RejectedMessage(f"jobs: at most {MAX_CELLS} cells with job orders")
            orders = self.cells[cell] = {}
        orders.pop(fields.JobOrderID, None)  # the newest change last
        orders[fields.JobOrderID] = JobRow(
            fields.JobOrderID, fields.State or "?", fields.StateNumber or 0,
            fields.MaterialDefinitionID or "", fields.RunsPlanned, fields.RunsCompleted,
            fields.ScrapCount)
        if len(orders) > MAX_JOB_ORDERS:
            oldest = next((key for key, row in orders.items()
                           if row.state_number in FINISHED), next(iter(orders)))
            del orders[oldest]

    def rows(self, cell: str) -> list[JobRow]:
        """Open job orders first (running, then waiting, oldest first), then the finished
        ones, newest first."""
        orders = list(self.cells.get(cell, {}).values())
        open_ = [row for row in orders if row.state_number not in FINISHED]
        open_.sort(key=lambda row: {3: 0, 4: 1}.get(row.state_number, 2))
        return open_ + [row for row in reversed(orders) if row.state_number in FINISHED]
