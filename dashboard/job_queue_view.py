"""A plant's job queues on the page (`dashboard.job_queue`): per cell with Job Management, its
job orders with id, state, good of planned and scrap. Every text is a label's text, never
markup: job order ids and variants are whatever a publisher sent.

The labels are built once for the shape of the queues (which cells, how many rows each shows)
and then only their texts change: a redraw sends the browser the labels that changed, not a
new table (rebuilding it every second was the page's largest update).
"""

from __future__ import annotations

from nicegui import ui

from dashboard.job_queue import JobQueue, JobRow
from dashboard.widgets import Text, mark, slug, testid

SHOWN_PER_CELL = 6  # rows a cell gets on the page


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)


class _Row:
    def __init__(self, rid: str) -> None:
        self.job = Text(classes="ellipsis", test_id=testid("job", rid))
        self.state = Text(test_id=testid("jobstate", rid))
        self.counts = Text(test_id=testid("jobcounts", rid))
        self.scrap = Text()

    def show(self, row: JobRow) -> None:
        self.job.set(row.job_order_id)
        self.state.set(f"{row.state} · {row.variant}")
        self.counts.set(f"{_count(row.good)} / {_count(row.planned)}")
        self.scrap.set(_count(row.scrap))


class JobQueueView:
    """The job queues of one plant (module docstring)."""

    def __init__(self, queue: JobQueue, pid: str) -> None:
        self.queue, self.pid = queue, pid
        self.shape: tuple | None = None
        self.cells: dict[str, tuple[Text, list[_Row]]] = {}
        ui.label("Job orders (OPC 40001-3, from the UNS)").classes("hmi-title")
        self.box = mark(ui.column().classes("gap-0 w-full hmi-small"), testid("jobs", pid))

    def update(self) -> None:
        queue = self.queue
        shown = {cell: queue.rows(cell)[:SHOWN_PER_CELL] for cell in sorted(queue.cells)}
        shape = tuple((cell, len(rows)) for cell, rows in shown.items())
        if shape != self.shape:
            self.shape = shape
            self._build(shape)
        for cell, (total, lines) in self.cells.items():
            rows, count = shown[cell], len(queue.cells[cell])
            total.set(f"{count} job orders" if count > len(rows) else "")
            for line, row in zip(lines, rows, strict=True):
                line.show(row)

    def _build(self, shape: tuple) -> None:
        self.box.clear()
        self.cells = {}
        with self.box:
            if not shape:
                mark(ui.label("none: a cell that is not on OPC UA gets its jobs on paper")
                     .classes("hmi-muted"), testid("jobs-empty", self.pid))
            for index, (cell, rows) in enumerate(shape):
                cid = testid(self.pid, slug(cell, index))
                with ui.grid(columns="minmax(0,2fr) minmax(0,3fr) auto auto") \
                        .classes("w-full gap-x-3 gap-y-0"):
                    ui.label(cell).classes("font-bold")
                    total = Text()
                    ui.label("good / planned")
                    ui.label("scrap")
                    self.cells[cell] = (total, [_Row(testid(cid, str(row_index)))
                                                for row_index in range(rows)])
