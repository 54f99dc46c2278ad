"""The commands a cell takes from outside: an operator's (or a client's, over OPC UA) stop,
start and fault reset, and a job order's hold, release and end.

A command the cell's current state does not allow raises `CommandRejected`. Commands only
set what the cell's life (`factory_sim.cell`) looks at between parts; stop and hold take
effect after the part being made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from factory_sim.states import Activity

if TYPE_CHECKING:
    from simpy import Event

    from factory_sim.cell import Cell

A = Activity


class CommandRejected(Exception):
    """An operator command that the cell's current state does not allow."""


class CellCommands:
    def __init__(self, cell: Cell):
        self._cell = cell
        self.stop_requested = False
        self.job_command: str | None = None  # "hold" or "end": a client's job order command
        self.start_event: Event | None = None  # the stopped cell waits for it
        self.job_released: Event | None = None  # the held job waits for it
        self._reset_event: Event | None = None

    def stop(self) -> None:
        cell = self._cell
        if self.stop_requested:
            raise CommandRejected(f"{cell.id} is already stopped")
        if cell.activity in (A.FAILED, A.REPAIR):
            raise CommandRejected(f"{cell.id} is out of service")
        self.stop_requested = True
        if cell.waiting_for_input:
            cell.set_activity(A.STOPPED)

    def start(self) -> None:
        cell = self._cell
        if not self.stop_requested:
            raise CommandRejected(f"{cell.id} is not stopped")
        self.stop_requested = False
        if self.start_event is not None:
            self.start_event.succeed()
            self.start_event = None
        elif cell.waiting_for_input:
            cell.set_activity(A.STARVED)

    def hold_job(self) -> None:
        """Pause the job under way after the part being made."""
        self.job_command = "hold"

    def release_job(self) -> None:
        self.job_command = None
        self._wake_job()

    def end_job(self) -> None:
        """End the job under way after the part being made (stopped or aborted)."""
        self.job_command = "end"
        self._wake_job()

    def _wake_job(self) -> None:
        if self.job_released is not None and not self.job_released.triggered:
            self.job_released.succeed()
        self.job_released = None

    def await_reset(self, delay: float):
        """The fault stays `delay` seconds until an operator resets it on site, unless
        someone resets it remotely first."""
        env = self._cell.env
        self._reset_event = env.event()
        yield env.timeout(delay) | self._reset_event
        self._reset_event = None

    def reset_fault(self) -> None:
        cell = self._cell
        if self._reset_event is None or cell.activity not in (A.REPAIR, A.SHORT_STOP):
            raise CommandRejected(f"{cell.id} has no fault waiting for a reset")
        self._reset_event.succeed()
        self._reset_event = None
