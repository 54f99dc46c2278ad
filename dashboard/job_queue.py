"""Each cell's job queue, as the factory sees it on the unified namespace: the job orders
(OPC 40001-3) the bridge publishes, from two topics of the cell:

- `.../{cell}/JobManagement.JobOrderControl/JobOrderList`: every job order the cell holds
  (retained in the bridge's tag mode), so a dashboard that starts after the plant shows the
  queue at once; it tells no counts, and the server refreshes it at most about once a second;
- `.../{cell}/jobs`: one message per change of a job order's state, with its counts.

Both carry the plant time they speak of; for each job order the newer word stands: a change
the events told is not undone by a list written before it, and a list written after a job
order's last event (a lost event, a cleared job order) corrects the queue.
`JobQueue` keeps, per cell, each job order's last known state and counts, bounded (cells,
job orders per cell: finished ones go first); `dashboard.job_queue_view` shows them in a
plant's details. A stand-alone cell has no such interface: its jobs come on paper, so it has
no queue here.

>>> queue = JobQueue()
>>> queue.apply("press-brake", JobEvent.model_validate({"fields": {
...     "JobOrderID": "O-1/press-brake", "State": "Running", "StateNumber": 3,
...     "RunsPlanned": 5, "RunsCompleted": 2, "ScrapCount": 0}}))
>>> [(row.job_order_id, row.state, row.good, row.planned) for row in queue.rows("press-brake")]
[('O-1/press-brake', 'Running', 2, 5)]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dashboard.uns_messages import JobEvent, JobFields, JobOrderAndState, RejectedMessage

MAX_CELLS = 200  # cells with a queue, a plant
MAX_JOB_ORDERS = 40  # kept per cell; past that the oldest finished one goes
FINISHED = (5, 6)  # Ended, Aborted
NOT_STARTED = (1, 2)  # NotAllowedToStart, AllowedToStart: nothing made yet


@dataclass(slots=True)
class JobRow:
    job_order_id: str
    state: str
    state_number: int
    variant: str
    planned: int | None
    good: int | None
    scrap: int | None
    known_at: datetime | None = None  # the plant time of what the row says
    from_event: bool = True  # False: from a JobOrderList (no counts)


class JobQueue:
    """The job orders of every cell of one plant, from the UNS."""

    def __init__(self) -> None:
        self.cells: dict[str, dict[str, JobRow]] = {}

    def apply(self, cell: str, event: JobEvent) -> None:
        """A job order's change of state (`.../{cell}/jobs`)."""
        fields = event.fields
        if fields is None:  # a gap record
            return
        orders = self._orders(cell)
        row = orders.get(fields.JobOrderID)
        if row is not None and not row.from_event and row.state_number != fields.StateNumber \
                and None not in (row.known_at, event.time) and event.time < row.known_at:
            return  # a change the newer list already holds, arriving after it
        orders.pop(fields.JobOrderID, None)  # the newest change last
        orders[fields.JobOrderID] = JobRow(
            fields.JobOrderID, fields.State or "?", fields.StateNumber or 0,
            fields.MaterialDefinitionID or "", fields.RunsPlanned, fields.RunsCompleted,
            fields.ScrapCount, event.time)
        _bound(orders)

    def apply_list(self, cell: str, entries: list[JobOrderAndState],
                   when: datetime | None) -> None:
        """The cell's JobOrderList as of plant time `when`: job orders the queue does not
        know are added; rows it is newer than take its state, or go if it no longer lists
        them; rows newer than the list stay as they are."""
        listed: dict[str, JobFields] = {}
        for entry in entries:
            brief = entry.brief()
            listed[brief.JobOrderID] = brief
        orders = self._orders(cell)
        for job_order_id in [key for key, row in orders.items()
                             if key not in listed and _outdated(row, when)]:
            del orders[job_order_id]
        for job_order_id, brief in listed.items():
            row = orders.get(job_order_id)
            if row is not None and (row.state_number == brief.StateNumber
                                    or not _outdated(row, when)):
                continue
            made = 0 if brief.StateNumber in NOT_STARTED else None  # else unknown here
            orders[job_order_id] = JobRow(
                job_order_id, brief.State or "?", brief.StateNumber or 0,
                brief.MaterialDefinitionID or "", brief.RunsPlanned, made, made, when,
                from_event=False)
        _bound(orders)

    def rows(self, cell: str) -> list[JobRow]:
        """Open job orders first (running, then waiting, oldest first), then the finished
        ones, newest first."""
        orders = list(self.cells.get(cell, {}).values())
        open_ = [row for row in orders if row.state_number not in FINISHED]
        open_.sort(key=lambda row: {3: 0, 4: 1}.get(row.state_number, 2))
        return open_ + [row for row in reversed(orders) if row.state_number in FINISHED]

    def _orders(self, cell: str) -> dict[str, JobRow]:
        orders = self.cells.get(cell)
        if orders is None:
            if len(self.cells) >= MAX_CELLS:
                raise RejectedMessage(f"jobs: at most {MAX_CELLS} cells with job orders")
            orders = self.cells[cell] = {}
        return orders


def _outdated(row: JobRow, when: datetime | None) -> bool:
    """Does a JobOrderList of plant time `when` know better than the row? Than a row from an
    event only if it is strictly newer (at the same moment the event may have come after
    the list was written); than a row from a list unless that list was newer."""
    if when is None or row.known_at is None:
        return not row.from_event
    return row.known_at < when if row.from_event else row.known_at <= when


def _bound(orders: dict[str, JobRow]) -> None:
    while len(orders) > MAX_JOB_ORDERS:
        oldest = next((key for key, row in orders.items() if row.state_number in FINISHED),
                      next(iter(orders)))
        del orders[oldest]
