"""Job orders: how a cell on OPC UA or unified receives its work (ISA-95 job control).

A job order asks one cell to make `runs_planned` parts of a variant with a program. Two
dispatchers send them: the plant's office, which stores and starts a job order for every lot
that reaches the cell's input buffer, and a client (a MES, a student), which stores, starts,
pauses, stops and aborts its own. The cell takes an allowed job order like any lot, so a
client's job order really runs: setup, cycle times, failures and scrap are the model's.

    stored -> NotAllowedToStart -(start)-> AllowedToStart -(cell takes it)-> Running
    Running -(pause)-> Interrupted -(resume)-> Running;  Running -(lot made, or stop)-> Ended
    NotAllowedToStart | AllowedToStart | Running | Interrupted -(abort)-> Aborted
    NotAllowedToStart | AllowedToStart -(cancel)-> removed;  Ended | Aborted -(clear)-> removed

Every change is a `JobOrderChanged` event (a removal a `JobOrderRemoved`); the book knows
nothing of who listens. A client's lot runs only on its cell and then leaves the plant.

>>> from factory_sim.states import JobOrderState
>>> JobOrderState.INTERRUPTED.finished, JobOrderState.ABORTED.finished
(False, True)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from factory_sim.events import JobOrderChanged, JobOrderRemoved
from factory_sim.orders import Order
from factory_sim.states import Activity, JobOrderState

if TYPE_CHECKING:
    from factory_sim.cell import Cell

S = JobOrderState
MAX_DOWNLOADABLE = 10  # a client's job orders a cell holds that have not finished
MAX_FINISHED = 20  # finished job orders kept per dispatcher (office, clients); oldest cleared
MAX_ID_LENGTH = 64
MAX_TEXT_LENGTH = 256
MAX_RUNS = 10_000


class JobOrderError(Exception):
    """A job order command the cell refuses; the message says why."""


class UnknownJobOrder(JobOrderError):
    """No job order with this JobOrderID on this cell."""


class InvalidJobOrder(JobOrderError):
    """The job order's content cannot be accepted (the `field` named is wrong)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


class JobOrderNotAllowed(JobOrderError):
    """The command does not fit the job order's state, or the cell cannot take more."""


@dataclass(frozen=True)
class JobOrderRequest:
    """What a dispatcher sends: the job order and its parameters."""

    id: str
    variant: str  # the material to make (a product variant of the scenario)
    runs_planned: int
    program: str = ""
    program_version: str = ""
    due: float | None = None  # simulated seconds; None: as soon as possible


@dataclass(eq=False)
class JobOrder:
    request: JobOrderRequest
    cell: str
    by_plant: bool  # dispatched by the plant's office (only pause, resume and clear by clients)
    state: JobOrderState
    stored_at: float
    started_at: float | None = None  # first Running
    ended_at: float | None = None
    good: int = 0
    scrap: int = 0
    times: dict[Activity, float] = field(default_factory=dict)  # cell state times while run
    lot: Order | None = None
    _put: object = None  # the lot's put into the input buffer
    _times_at_start: dict[Activity, float] = field(default_factory=dict)
    _scrap_at_start: int = 0

    @property
    def id(self) -> str:
        return self.request.id


class JobOrderBook:
    """The job orders of one cell, in the order they were stored."""

    def __init__(self, cell: Cell) -> None:
        self._cell = cell
        self.orders: dict[str, JobOrder] = {}
        self._by_lot: dict[Order, JobOrder] = {}
        self._finished: dict[bool, deque[str]] = {True: deque(), False: deque()}  # by_plant
        self.max_downloadable = MAX_DOWNLOADABLE

    # -- what the plant's office does (hooks the cell calls) ---------------------------------

    def lot_arrived(self, lot: Order) -> None:
        """A lot reached the input buffer: the office stores and starts its job order."""
        if lot in self._by_lot:
            return  # a client's job order, stored already
        cell = self._cell
        request = JobOrderRequest(f"{lot.id}/{cell.spec.name}", lot.variant, lot.alive,
                                  program=_program(cell.spec.name, lot.variant), due=lot.due)
        order = JobOrder(request, cell.id, True, S.NOT_ALLOWED_TO_START, cell.env.now, lot=lot)
        if request.id in self.orders:  # the same lot again (never in a routing; be safe)
            self._remove(request.id)
        self.orders[order.id] = order
        self._by_lot[lot] = order
        self._publish(order, None)
        self._move(order, S.ALLOWED_TO_START)

    def lot_taken(self, lot: Order) -> None:
        order = self._by_lot.get(lot)
        if order is None or order.state is not S.ALLOWED_TO_START:
            return
        cell = self._cell
        order.started_at = cell.env.now
        order._times_at_start = cell.state_times()
        order._scrap_at_start = lot.scrapped
        self._move(order, S.RUNNING)

    def lot_done(self, lot: Order) -> bool:
        """The cell finished (or ended early) the lot; True if it was a client's lot, which
        leaves the plant here."""
        order = self._by_lot.pop(lot, None)
        if order is None:
            return False
        self._account(order)
        order.lot = None
        if self.orders.get(order.id) is not order:  # cleared while the cell ended it
            return not order.by_plant
        if order.state.finished:  # stopped or aborted by a client: counts of the last part
            self._publish(order, order.state)
        else:
            self._move(order, S.ENDED)
        return not order.by_plant

    # -- what a client does ----------------------------------------------------------------

    def store(self, request: JobOrderRequest, start: bool = False) -> JobOrder:
        self._check(request)
        if request.id in self.orders:
            raise InvalidJobOrder("JobOrderID", f"job order {request.id!r} exists on "
                                                f"{self._cell.id} already")
        waiting = sum(1 for o in self.orders.values() if not o.by_plant and not o.state.finished)
        if waiting >= self.max_downloadable:
            raise JobOrderNotAllowed(f"{self._cell.id} holds {waiting} job orders, the most it "
                                     f"takes (MaxDownloadableJobOrders)")
        order = JobOrder(request, self._cell.id, False, S.NOT_ALLOWED_TO_START,
                         self._cell.env.now)
        self.orders[order.id] = order
        self._publish(order, None)
        if start:
            self.start(order.id)
        return order

    def update(self, request: JobOrderRequest) -> None:
        order = self._client_order(request.id, "Update", S.NOT_ALLOWED_TO_START,
                                   S.ALLOWED_TO_START)
        self._check(request)
        if order.lot is not None and not self._unqueue(order):
            raise JobOrderNotAllowed(f"job order {order.id!r}: the cell has taken it")
        order.request = request
        if order.state is S.ALLOWED_TO_START:
            self._queue(order)
        self._publish(order, order.state)

    def start(self, job_order_id: str) -> None:
        order = self._client_order(job_order_id, "Start", S.NOT_ALLOWED_TO_START)
        self._queue(order)
        self._move(order, S.ALLOWED_TO_START)

    def revoke_start(self, job_order_id: str) -> None:
        order = self._client_order(job_order_id, "RevokeStart", S.ALLOWED_TO_START)
        if not self._unqueue(order):
            raise JobOrderNotAllowed(f"job order {order.id!r}: the cell has taken it")
        self._move(order, S.NOT_ALLOWED_TO_START)

    def cancel(self, job_order_id: str) -> None:
        order = self._client_order(job_order_id, "Cancel", S.NOT_ALLOWED_TO_START,
                                   S.ALLOWED_TO_START)
        if order.lot is not None and not self._unqueue(order):
            raise JobOrderNotAllowed(f"job order {order.id!r}: the cell has taken it")
        self._remove(order.id)

    def pause(self, job_order_id: str) -> None:
        order = self._order(job_order_id, "Pause", S.RUNNING)
        self._cell.commands.hold_job()
        self._move(order, S.INTERRUPTED)

    def resume(self, job_order_id: str) -> None:
        order = self._order(job_order_id, "Resume", S.INTERRUPTED)
        self._cell.commands.release_job()
        self._move(order, S.RUNNING)

    def stop(self, job_order_id: str) -> None:
        """End a running job order early: the cell finishes the part under way, no more."""
        order = self._client_order(job_order_id, "Stop", S.RUNNING, S.INTERRUPTED)
        self._end(order, S.ENDED)

    def abort(self, job_order_id: str) -> None:
        order = self._client_order(job_order_id, "Abort", S.NOT_ALLOWED_TO_START,
                                   S.ALLOWED_TO_START, S.RUNNING, S.INTERRUPTED)
        if order.state in (S.RUNNING, S.INTERRUPTED):
            self._end(order, S.ABORTED)
            return
        if order.lot is not None and not self._unqueue(order):
            raise JobOrderNotAllowed(f"job order {order.id!r}: the cell has taken it")
        order.ended_at = self._cell.env.now
        self._move(order, S.ABORTED)

    def clear(self, job_order_id: str) -> None:
        self._order(job_order_id, "Clear", S.ENDED, S.ABORTED)
        self._remove(job_order_id)

    # -- what anyone may read ----------------------------------------------------------------

    def get(self, job_order_id: str) -> JobOrder:
        order = self.orders.get(job_order_id)
        if order is None:
            raise UnknownJobOrder(f"no job order {job_order_id!r} on {self._cell.id}")
        if order.lot is not None and order.state in (S.RUNNING, S.INTERRUPTED):
            self._account(order)  # the counts so far
        return order

    def in_states(self, states: set[JobOrderState]) -> list[JobOrder]:
        return [self.get(o.id) for o in list(self.orders.values()) if o.state in states]

    # -- inside --------------------------------------------------------------------------------

    def _check(self, request: JobOrderRequest) -> None:
        cell = self._cell
        if not request.id or len(request.id) > MAX_ID_LENGTH or not request.id.isprintable():
            raise InvalidJobOrder("JobOrderID", f"JobOrderID must be 1..{MAX_ID_LENGTH} "
                                                "printable characters")
        variants = {p.name for p in cell.ctx.products if cell.spec.name in p.cycle}
        if request.variant not in variants:
            raise InvalidJobOrder("MaterialDefinitionID", f"{cell.id} makes no variant "
                                  f"{request.variant!r} (it makes: {', '.join(sorted(variants))})")
        if not 1 <= request.runs_planned <= MAX_RUNS:
            raise InvalidJobOrder("RunsPlanned", f"RunsPlanned must be 1..{MAX_RUNS}, "
                                                 f"got {request.runs_planned}")
        for name, text in (("Program", request.program),
                           ("ProgramVersion", request.program_version)):
            if len(text) > MAX_TEXT_LENGTH or not text.isprintable():
                raise InvalidJobOrder(name, f"{name} must be at most {MAX_TEXT_LENGTH} "
                                            "printable characters")

    def _order(self, job_order_id: str, command: str, *states: JobOrderState) -> JobOrder:
        order = self.orders.get(job_order_id)
        if order is None:
            raise UnknownJobOrder(f"{command}: no job order {job_order_id!r} on {self._cell.id}")
        if order.state not in states:
            allowed = " or ".join(_name(s) for s in states)
            raise JobOrderNotAllowed(f"{command}: job order {job_order_id!r} is "
                                     f"{_name(order.state)}, not {allowed}")
        return order

    def _client_order(self, job_order_id: str, command: str, *states) -> JobOrder:
        order = self.orders.get(job_order_id)
        if order is not None and order.by_plant:
            raise JobOrderNotAllowed(f"{command}: job order {job_order_id!r} was dispatched "
                                     "by the plant's office (clients may pause, resume, clear)")
        return self._order(job_order_id, command, *states)

    def _queue(self, order: JobOrder) -> None:
        cell, request = self._cell, order.request
        product = next(p for p in cell.ctx.products if p.name == request.variant)
        now = cell.env.now
        lot = Order(id=request.id, product=product.model_copy(update={"routing": [cell.spec.name]}),
                    quantity=request.runs_planned, arrived=now,
                    due=request.due if request.due is not None else now, released=now)
        order.lot = lot
        self._by_lot[lot] = order
        order._put = cell.input.put(lot)

    def _unqueue(self, order: JobOrder) -> bool:
        """Take a job order's lot back before the cell took it; False if it has."""
        lot, put, buffer = order.lot, order._put, self._cell.input
        if lot is None:
            return True
        if put is not None and not put.triggered:
            put.cancel()
        elif lot in buffer.items:
            buffer.items.remove(lot)
        else:
            return False
        del self._by_lot[lot]
        order.lot = order._put = None
        return True

    def _end(self, order: JobOrder, state: JobOrderState) -> None:
        self._cell.commands.end_job()
        self._account(order)
        order.ended_at = self._cell.env.now
        self._move(order, state)

    def _account(self, order: JobOrder) -> None:
        cell, lot = self._cell, order.lot
        if lot is None or order.started_at is None:
            return
        job = cell.job
        if job is not None and job.order_id == lot.id:
            order.good = job.completed
        order.scrap = lot.scrapped - order._scrap_at_start
        now = cell.state_times()
        order.times = {a: now[a] - order._times_at_start.get(a, 0.0) for a in now
                       if now[a] - order._times_at_start.get(a, 0.0) > 0}

    def _move(self, order: JobOrder, state: JobOrderState) -> None:
        previous, order.state = order.state, state
        if state is S.ENDED and order.ended_at is None:
            order.ended_at = self._cell.env.now
        self._publish(order, previous)
        if state.finished:
            finished = self._finished[order.by_plant]
            finished.append(order.id)
            while len(finished) > MAX_FINISHED:
                oldest = finished.popleft()
                if oldest in self.orders and self.orders[oldest].state.finished:
                    self._remove(oldest)

    def _remove(self, job_order_id: str) -> None:
        order = self.orders.pop(job_order_id)
        if order.lot is not None and order.started_at is None:
            self._by_lot.pop(order.lot, None)  # (a lot the cell has keeps its job order)
        self._cell.publish(JobOrderRemoved(self._cell.env.now, self._cell.id, job_order_id))

    def _publish(self, order: JobOrder, previous: JobOrderState | None) -> None:
        request = order.request
        self._cell.publish(JobOrderChanged(
            self._cell.env.now, order.cell, order.id, previous, order.state, request.variant,
            request.runs_planned, order.good, order.scrap))


def _name(state: JobOrderState) -> str:
    return "".join(word.capitalize() for word in state.name.split("_"))


def _program(cell_name: str, variant: str) -> str:
    """The program a lot of the office's runs with (the variant's program for the cell)."""
    return f"{variant}.{cell_name}"
