"""A plant's job queues on the page (`dashboard.job_queue`): per cell with Job Management, its
job orders with id, state, good of planned and scrap. Every text is a label's text, never
markup: job order ids and variants are whatever a publisher sent."""

from __future__ import annotations

from nicegui import ui

from dashboard.job_queue import JobQueue
from dashboard.widgets import Text, mark, slug, testid

SHOWN_PER_CELL = 6  # rows a cell gets on the page


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)


class JobQueueView:
    """The job queues of one plant (module docstring); redrawn only when they changed."""

    def __init__(self, queue: JobQueue, pid: str) -> None:
        self.queue, self.pid = queue, pid
        self.key: tuple | None = None
        ui.label("Job orders (OPC 40001-3, from the UNS)").classes("hmi-title")
        self.box = mark(ui.column().classes("gap-0 w-full hmi-small"), testid("jobs", pid))

    def update(self) -> None:
        cells = sorted(self.queue.cells)
        shown = {cell: self.queue.rows(cell)[:SHOWN_PER_CELL] for cell in cells}
        key = tuple((cell, len(self.queue.cells[cell]),
                     *((r.job_order_id, r.state, r.good, r.scrap) for r in rows))
                    for cell, rows in shown.items())
        if key == self.key:
            return
        self.key = key
        self.box.clear()
        with self.box:
            if not cells:
                mark(ui.label("none seen: a cell that is not on OPC UA gets its jobs on paper, "
                              "and the bridge publishes job orders only as they change")
                     .classes("hmi-muted"), testid("jobs-empty", self.pid))
            for index, cell in enumerate(cells):
                rows, total = shown[cell], len(self.queue.cells[cell])
                cid = testid(self.pid, slug(cell, index))
                with ui.grid(columns="minmax(0,2fr) minmax(0,3fr) auto auto") \
                        .classes("w-full gap-x-3 gap-y-0"):
                    ui.label(cell).classes("font-bold")
                    ui.label(f"{total} job orders" if total > len(rows) else "")
                    ui.label("good / planned")
                    ui.label("scrap")
                    for row_index, row in enumerate(rows):
                        rid = testid(cid, str(row_index))
                        mark(ui.label(row.job_order_id).classes("ellipsis"),
                             testid("job", rid))
                        Text(f"{row.state} · {row.variant}", test_id=testid("jobstate", rid))
                        Text(f"{_count(row.good)} / {_count(row.planned)}",
                             test_id=testid("jobcounts", rid))
                        ui.label(_count(row.scrap))
