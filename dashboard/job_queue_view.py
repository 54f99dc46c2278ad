"""A plant's job queues on the page (`dashboard.job_queue`): per cell with Job Management, its
job orders with id, state, good of planned and scrap. Every text is a label's text, never
markup: job order ids and variants are whatever a publisher sent.

The labels are built once and then only their texts change: a redraw sends the browser the
labels that changed, not a new table (rebuilding it every second was the page's largest
update; with 100 cells, most of the dashboard's time).
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

    def delete(self) -> None:
        for text in (self.job, self.state, self.counts, self.scrap):
            text.label.delete()

    def show(self, row: JobRow) -> None:
        self.job.set(row.job_order_id)
        self.state.set(f"{row.state} · {row.variant}")
        self.counts.set(f"{_count(row.good)} / {_count(row.planned)}")
        self.scrap.set(_count(row.scrap))


class _CellQueue:
    """One cell's job orders: its rows grow and shrink one at a time, texts change in place."""

    def __init__(self, cell: str, cid: str) -> None:
        self.cid = cid
        self.grid = ui.grid(columns="minmax(0,2fr) minmax(0,3fr) auto auto") \
            .classes("w-full gap-x-3 gap-y-0")
        with self.grid:
            ui.label(cell).classes("font-bold")
            self.total = Text()
            ui.label("good / planned")
            ui.label("scrap")
        self.lines: list[_Row] = []

    def show(self, rows: list[JobRow], count: int) -> None:
        self.total.set(f"{count} job orders" if count > len(rows) else "")
        while len(self.lines) > len(rows):
            self.lines.pop().delete()
        with self.grid:
            while len(self.lines) < len(rows):
                self.lines.append(_Row(testid(self.cid, str(len(self.lines)))))
        for line, row in zip(self.lines, rows, strict=True):
            line.show(row)


class JobQueueView:
    """The job queues of one plant (module docstring), cells in the order they first had a
    job order; a new cell adds its section, nothing else is built again."""

    def __init__(self, queue: JobQueue, pid: str) -> None:
        self.queue, self.pid = queue, pid
        self.sections: dict[str, _CellQueue] = {}
        self.empty: ui.label | None = None
        ui.label("Job orders (OPC 40001-3, from the UNS)").classes("hmi-title")
        self.box = mark(ui.column().classes("gap-0 w-full hmi-small"), testid("jobs", pid))

    def update(self) -> None:
        queue = self.queue
        if not queue.cells:
            if self.empty is None:
                self.box.clear()
                self.sections = {}
                with self.box:
                    self.empty = mark(ui.label("none: a cell that is not on OPC UA gets its "
                                               "jobs on paper").classes("hmi-muted"),
                                      testid("jobs-empty", self.pid))
            return
        if self.empty is not None or self.sections.keys() - queue.cells.keys():
            self.box.clear()
            self.sections, self.empty = {}, None
        for index, (cell, orders) in enumerate(queue.cells.items()):
            section = self.sections.get(cell)
            if section is None:
                with self.box:
                    section = self.sections[cell] = _CellQueue(
                        cell, testid(self.pid, slug(cell, index)))
            section.show(queue.rows(cell)[:SHOWN_PER_CELL], len(orders))
