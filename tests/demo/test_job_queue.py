"""The dashboard's job queues (issue 20) against what a publisher can send on `.../{cell}/jobs`:
good changes update a cell's queue; bad ones are rejected with a reason and counted; markup is
kept as text; cells and job orders are bounded. The page itself is in test_dashboard_browser.py.
"""

from __future__ import annotations

import json

from dashboard.job_queue import MAX_CELLS, MAX_JOB_ORDERS
from tests.demo.test_uns_consumer import CELL_TOPIC, PLANT, consumer

JOBS = f"{CELL_TOPIC}/jobs"


def job(job_order_id: str = "O-1/press-brake", state: int = 3, **fields) -> bytes:
    names = {1: "NotAllowedToStart", 2: "AllowedToStart", 3: "Running", 4: "Interrupted",
             5: "Ended", 6: "Aborted"}
    return json.dumps({
        "eventType": "ISA95JobOrderStatusEventType", "time": "2026-01-05T07:00:00Z",
        "severity": 100, "message": "", "seq": 1, "cellType": "PressBrakeType",
        "fields": {"JobOrderID": job_order_id, "State": names.get(state, "?"),
                   "StateNumber": state, "MaterialDefinitionID": "bracket", "RunsPlanned": 5,
                   "RunsCompleted": 2, "ScrapCount": 0, "JobResult": 0, **fields}}).encode()


def queue_of(uns, cell: str = "press-brake"):
    return [(r.job_order_id, r.state, r.good, r.planned, r.scrap)
            for r in uns.plants[PLANT].jobs.rows(cell)]


def test_each_job_order_shows_its_last_change_open_ones_first():
    uns = consumer()
    for payload in (job("A", 2, RunsCompleted=0), job("B", 3), job("A", 3, RunsCompleted=0),
                    job("B", 5, RunsCompleted=5, ScrapCount=1), job("C", 1, RunsCompleted=0)):
        uns.offer(JOBS, payload)
    uns.offer(JOBS, json.dumps({"gap": {"from": None, "to": None, "reason": "lost"},
                                "seq": 9, "cellType": "x", "nodeId": ""}).encode())
    uns.drain()
    assert uns.rejected == 0
    assert queue_of(uns) == [("A", "Running", 0, 5, 0), ("C", "NotAllowedToStart", 0, 5, 0),
                             ("B", "Ended", 5, 5, 1)]


def test_bad_job_payloads_are_rejected_counted_and_markup_stays_text():
    uns = consumer()
    bad = [job(state=9), job(RunsCompleted=-1), job(RunsCompleted="7"), job(""),
           job("x" * 5000), job(JobOrderID=None), b"{" * 100_000,
           json.dumps({"fields": "not an object"}).encode()]
    for payload in bad:
        uns.offer(JOBS, payload)
    uns.offer(JOBS, job("<img src=x onerror=alert(1)>"))
    uns.drain()
    assert uns.rejected == len(bad)
    assert queue_of(uns) == [("<img src=x onerror=alert(1)>", "Running", 2, 5, 0)]


def test_job_orders_and_cells_are_bounded_finished_ones_go_first():
    uns = consumer()
    uns.offer(JOBS, job("running", 3))
    for index in range(3 * MAX_JOB_ORDERS):
        uns.offer(JOBS, job(f"done-{index}", 5))
    for index in range(MAX_CELLS + 10):
        uns.offer(f"{PLANT}/factory/plant-1/fabrication/line-1/cell{index}/jobs", job())
    uns.drain()
    rows = queue_of(uns)
    assert len(rows) == MAX_JOB_ORDERS and rows[0][0] == "running"
    assert rows[1][0] == f"done-{3 * MAX_JOB_ORDERS - 1}"  # the newest finished next
    assert len(uns.plants[PLANT].jobs.cells) == MAX_CELLS
    assert uns.rejected == 11  # the cells past the bound (press-brake is one of them)
