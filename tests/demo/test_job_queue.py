"""The dashboard's job queues (issue 20) against what a publisher can send on `.../{cell}/jobs`
and on the cell's `JobOrderList`: the queue starts from the list and follows the changes; good
messages update a cell's queue; bad ones are rejected with a reason and counted; markup is
kept as text; cells and job orders are bounded. The page itself is in test_dashboard_browser.py;
a consumer started after a real plant, bridge and broker have run is in
test_job_queue_late_start.py.
"""

from __future__ import annotations

import json

from dashboard.job_order_lists import ListPacing
from dashboard.job_queue import MAX_CELLS, MAX_JOB_ORDERS
from tests.demo.test_uns_consumer import CELL_TOPIC, PLANT, consumer

JOBS = f"{CELL_TOPIC}/jobs"
JOB_LIST = f"{CELL_TOPIC}/JobManagement.JobOrderControl/JobOrderList"
STATES = {1: "NotAllowedToStart", 2: "AllowedToStart", 3: "Running", 4: "Interrupted",
          5: "Ended", 6: "Aborted"}


def listed(job_order_id: str, state: int, runs: int = 5) -> dict:
    """A JobOrderList entry as the bridge decodes it (ISA95JobOrderAndStateDataType)."""
    return {"JobOrder": {
        "JobOrderID": job_order_id, "WorkMasterID": [{"ID": "bracket.press-brake"}],
        "JobOrderParameters": [{"ID": "RunsPlanned", "Value": {
            "Value": runs, "VariantType": 7, "Dimensions": None, "is_array": False}}],
        "MaterialRequirements": [{"MaterialDefinitionID": "bracket", "MaterialUse": "Produced",
                                  "Quantity": str(runs)}]},
        "State": [{"BrowsePath": {"Elements": []}, "StateText": STATES.get(state, "?"),
                   "StateNumber": state}]}


def job_list(at: str, *entries: dict) -> bytes:
    return json.dumps({"value": list(entries), "sourceTimestamp": at,
                       "serverTimestamp": "2026-12-01T10:00:00Z", "status": "Good", "seq": 1,
                       "cellType": "PressBrakeType", "nodeId": "ns=7;s=x"}).encode()


def job(job_order_id: str = "O-1/press-brake", state: int = 3, at: str = "2026-01-05T07:00:00Z",
        **fields) -> bytes:
    return json.dumps({
        "eventType": "ISA95JobOrderStatusEventType", "time": at,
        "severity": 100, "message": "", "seq": 1, "cellType": "PressBrakeType",
        "fields": {"JobOrderID": job_order_id, "State": STATES.get(state, "?"),
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


def unpaced():
    uns = consumer()
    uns.lists.every_s = 0.0  # every list applied as it comes (pacing: its own test)
    return uns


def test_the_queue_starts_from_the_job_order_list_and_the_newer_word_stands():
    uns = unpaced()
    # a consumer that starts late: the retained list is all it gets
    uns.offer(JOB_LIST, job_list("2026-01-05T07:00:00Z", listed("A", 5), listed("B", 3),
                                 listed("C", 2, runs=20)))
    uns.drain()
    assert queue_of(uns) == [("B", "Running", None, 5, None), ("C", "AllowedToStart", 0, 20, 0),
                             ("A", "Ended", None, 5, None)]  # no counts in a list: unknown
    # then the changes: B ends (its counts), and a list written before that does not undo it
    uns.offer(JOBS, job("B", 5, at="2026-01-05T07:05:00Z", RunsCompleted=5, ScrapCount=1))
    uns.offer(JOB_LIST, job_list("2026-01-05T07:04:00Z", listed("A", 5), listed("B", 3),
                                 listed("C", 2, runs=20)))
    # an event at the list's own moment stands too (it may have come after the list)
    uns.offer(JOBS, job("C", 3, at="2026-01-05T07:06:00Z", RunsCompleted=0))
    uns.offer(JOB_LIST, job_list("2026-01-05T07:06:00Z", listed("A", 5), listed("B", 5),
                                 listed("C", 2, runs=20)))
    uns.drain()
    assert queue_of(uns) == [("C", "Running", 0, 5, 0), ("B", "Ended", 5, 5, 1),
                             ("A", "Ended", None, 5, None)]
    # a newer list: A cleared from the cell goes, D is new, C's state is the list's (its
    # event was lost), B unchanged keeps its counts
    uns.offer(JOB_LIST, job_list("2026-01-05T08:00:00Z", listed("B", 5), listed("C", 5),
                                 listed("D", 1)))
    uns.drain()
    assert queue_of(uns) == [("D", "NotAllowedToStart", 0, 5, 0), ("C", "Ended", None, 5, None),
                             ("B", "Ended", 5, 5, 1)]
    # the bridge's machine mode: the list as one update of a batch
    uns.offer(f"{CELL_TOPIC}/updates", json.dumps({"updates": [
        {"topic": JOB_LIST, **json.loads(job_list("2026-01-05T09:00:00Z", listed("D", 3)))}]})
        .encode())
    uns.drain()
    assert queue_of(uns) == [("D", "Running", None, 5, None)]
    assert uns.rejected == 0


def test_bad_job_order_lists_are_rejected_counted_and_markup_stays_text():
    uns = unpaced()
    at = "2026-01-05T07:00:00Z"
    entry = listed("A", 3)
    bad = [json.dumps({"value": "not a list", "sourceTimestamp": at}).encode(),
           job_list(at, {"State": entry["State"]}),  # no job order
           job_list(at, {**entry, "JobOrder": {**entry["JobOrder"], "JobOrderID": "x" * 5000}}),
           job_list(at, {**entry, "State": [{"StateNumber": 9}]}),
           job_list(at, {**entry, "State": [{"StateNumber": True}]}),
           job_list(at, {**entry, "State": []}),
           job_list(at, {**entry, "State": [{"StateNumber": 3, "StateText": ["x"]}]}),
           job_list(at, *[listed(f"J{i}", 1) for i in range(1001)]),  # too many
           job_list("yesterday", entry),
           b"{\"value\": " + b"[" * 100_000]
    for payload in bad:
        uns.offer(JOB_LIST, payload)
    uns.offer(JOB_LIST, job_list(at, listed("<img src=x onerror=alert(1)>", 3, runs=-1)))
    uns.drain()
    assert uns.rejected == len(bad)
    # a RunsPlanned that is no count is unknown, not shown
    assert queue_of(uns) == [("<img src=x onerror=alert(1)>", "Running", None, None, None)]


def test_a_long_job_order_list_is_bounded_finished_ones_go_first():
    uns = consumer()
    uns.offer(JOB_LIST, job_list("2026-01-05T07:00:00Z", listed("running", 3),
                                 *[listed(f"done-{i}", 5) for i in range(3 * MAX_JOB_ORDERS)]))
    uns.drain()
    rows = queue_of(uns)
    assert len(rows) == MAX_JOB_ORDERS and rows[0][0] == "running"
    assert rows[1][0] == f"done-{3 * MAX_JOB_ORDERS - 1}"


def test_a_cells_list_is_applied_at_once_then_at_most_every_few_seconds_the_newest():
    uns, now = consumer(), [100.0]
    uns.lists = ListPacing(every_s=5.0, clock=lambda: now[0])
    at = "2026-01-05T07:00:00Z"
    for state in (1, 2, 3):  # the first at once; the newest waits, the one before it goes
        uns.offer(JOB_LIST, job_list(at, listed("A", state)))
    uns.drain()
    assert queue_of(uns) == [("A", "NotAllowedToStart", 0, 5, 0)]
    now[0] += 5.0
    uns.drain()  # nothing new arrived: the waiting list is applied all the same
    assert queue_of(uns) == [("A", "Running", None, 5, None)]
    uns.offer(JOB_LIST, b'{"value": 1}')  # a bad one waits too, and is rejected when due
    uns.drain()
    assert uns.rejected == 0
    now[0] += 5.0
    uns.drain()
    assert uns.rejected == 1 and queue_of(uns) == [("A", "Running", None, 5, None)]
