"""Seeded chaos (`serve --chaos SEED[:PROFILE]`): faults injected on a schedule in simulated
time, so that a client bug they reveal can be reproduced.

The faults (`FAULTS`): `drop_connection` (a client's TCP connection is aborted),
`close_session` (a client's session is closed, its subscriptions with it),
`close_subscriptions` (a client's subscriptions are deleted, its session kept),
`bad_status` (for `BAD_FOR_S` simulated seconds every client read, browse and method call
on a node of the plant's namespaces answers `BAD_STATUS`, one status per operation, and every
client's data-change monitored item reports one notification with it and then nothing until
the window ends, when it reports its current value again; namespace 0 (the Server object, the
types) answers on, and so do calls on the Simulation object, so that a client can step a
paused plant past the window),
`restart_endpoint` (the server stops listening, closing every connection, and listens again)
and `clock_jump` (the plant's time jumps `JUMP_S` ahead at once).

A seeded `random.Random` draws the time to the next fault (exponential, `Profile.mean_s`
simulated seconds), its kind (by the profile's weights) and which connected client it hits
(by the order they connected): the same seed gives the same faults at the same plant times
against the same client behaviour. Every fault is logged (WARNING), appended to
`Simulation/Chaos` (the latest `LOG_SIZE` entries, "t=<plant seconds> <fault>: <what>") and
reported as an event of the Server, so a test can check its client recovered from each one.
A fault with nothing to act on (no client connected) is logged as skipped; the schedule goes on.
"""

from __future__ import annotations

import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from asyncua import ua

from opcua_server.asyncua_adapter import faults

_logger = logging.getLogger(__name__)

FAULTS = ("drop_connection", "close_session", "close_subscriptions", "bad_status",
          "restart_endpoint", "clock_jump")
BAD_STATUS = ua.StatusCodes.BadResourceUnavailable
BAD_FOR_S = 30.0
JUMP_S = 3600.0
LOG_SIZE = 100


@dataclass(frozen=True)
class Profile:
    mean_s: float  # simulated seconds between faults, on average
    weights: dict[str, float]


PROFILES = {
    "default": Profile(300.0, dict.fromkeys(FAULTS, 1.0)),
    "connections": Profile(300.0, {"drop_connection": 1.0, "close_session": 1.0,
                                   "restart_endpoint": 1.0}),
    "subscriptions": Profile(300.0, {"close_subscriptions": 1.0, "close_session": 1.0}),
    "data": Profile(300.0, {"bad_status": 1.0, "clock_jump": 1.0}),
}
for _fault in FAULTS:
    PROFILES[_fault] = Profile(300.0, {_fault: 1.0})


class ChaosError(ValueError):
    """A --chaos value that cannot be used."""


def parse_chaos(text: str) -> tuple[int, str]:
    """`SEED[:PROFILE]` -> (seed, profile).

    >>> parse_chaos("42"), parse_chaos("7:connections")
    ((42, 'default'), (7, 'connections'))
    """
    seed_text, _, profile = text.partition(":")
    profile = profile or "default"
    try:
        seed = int(seed_text)
    except ValueError:
        raise ChaosError(f"--chaos {text}: expected SEED[:PROFILE] with a whole-number "
                         "seed") from None
    if not 0 <= seed < 2**63:
        raise ChaosError(f"--chaos {text}: the seed must be 0..2^63-1")
    if profile not in PROFILES:
        raise ChaosError(f"--chaos {text}: unknown profile {profile!r} (expected one of "
                         f"{', '.join(PROFILES)})")
    return seed, profile


@dataclass(frozen=True)
class Fault:
    time: float  # plant seconds
    kind: str
    choice: int  # which client (in connection order, modulo their number)


class Chaos:
    """Draws and injects faults as plant time passes (`advance`, after every pacing tick)."""

    def __init__(self, server, seed: int, profile: str, log_node: ua.NodeId,
                 jump: Callable[[float], None],
                 report: Callable[[str, float], Awaitable[None]],
                 controls: ua.NodeId | None = None) -> None:
        self._server = server
        self._random = random.Random(seed)
        self._profile = PROFILES[profile]
        self._kinds = sorted(self._profile.weights)
        self._log_node = log_node
        self._jump = jump
        self._report = report
        self.log: deque[str] = deque(maxlen=LOG_SIZE)
        self.injected: list[Fault] = []  # what was done (skipped faults are not here)
        self._bad_until = -1.0
        self._held: list = []  # data-change items withheld in a Bad-status window
        self._now = 0.0
        self._next = self._draw(0.0)
        # namespace 0 (the Server object a client's connection watchdog reads, the types)
        # answers on: the plant's data fails, not the server
        faults.refuse_requests(server, self._refusing,
                               lambda node: node.NamespaceIndex == 0 or node == controls)

    def _draw(self, after: float) -> Fault:
        rng = self._random
        time = after + rng.expovariate(1.0 / self._profile.mean_s)
        kind = rng.choices(self._kinds, [self._profile.weights[k] for k in self._kinds])[0]
        return Fault(time, kind, rng.randrange(1 << 30))

    def _refusing(self) -> int | None:
        return BAD_STATUS if self._now < self._bad_until else None

    @property
    def refusing(self) -> bool:
        """Whether client requests are being answered Bad (a `bad_status` fault's window)."""
        return self._refusing() is not None

    @property
    def next_fault(self) -> Fault:
        return self._next

    async def advance(self, now: float) -> None:
        """Inject every fault due by plant time `now`."""
        self._now = now
        while self._next.time <= now:
            fault, self._next = self._next, self._draw(self._next.time)
            await self._inject(fault)
        if self._held and not self.refusing:
            held, self._held = self._held, []
            resumed = await faults.resume_data_changes(self._server, held)
            _logger.info("chaos at t=%g s: Bad-status window over, %d monitored items report "
                         "again", now, resumed)

    async def _inject(self, fault: Fault) -> None:
        server = self._server
        if fault.kind == "drop_connection":
            done = faults.drop_connection(server, fault.choice)
        elif fault.kind == "close_session":
            done = await faults.close_session(server, fault.choice)
        elif fault.kind == "close_subscriptions":
            done = await faults.close_subscriptions(server, fault.choice)
        elif fault.kind == "restart_endpoint":
            done = await faults.restart_endpoint(server)
        elif fault.kind == "bad_status":
            self._bad_until = fault.time + BAD_FOR_S
            self._held += await faults.withhold_data_changes(self._server, BAD_STATUS)
            done = (f"client reads, browses, calls and data changes answer "
                    f"{ua.StatusCode(BAD_STATUS).name} for {BAD_FOR_S:g} s")
        else:
            self._jump(JUMP_S)
            # the schedule moves with the clock: a jump does not bring the next faults on
            self._next = Fault(self._next.time + JUMP_S, self._next.kind, self._next.choice)
            done = f"plant time jumped {JUMP_S:g} s ahead"
        if done is None:
            _logger.info("chaos at t=%g s: %s skipped (no client to act on)", fault.time,
                         fault.kind)
            return
        text = f"t={fault.time:.3f} {fault.kind}: {done}"
        self.injected.append(fault)
        self.log.append(text)
        _logger.warning("chaos %s", text)
        await self._server.write_attribute_value(self._log_node, ua.DataValue(
            ua.Variant(list(self.log), ua.VariantType.String)))
        await self._report(text, fault.time)
