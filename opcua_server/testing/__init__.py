"""A running plant for an integrator's own tests: in-process, on a free port, paused, stepped.

    async with running_plant("reference-opcua", seed=7, users={"otto": "operator"}) as plant:
        async with Client(plant.endpoint) as client:   # any OPC UA client
            ...
            await plant.step(3600)                     # one simulated hour, at once

`running_plant` is the asyncio context manager; `PlantThread` runs the same plant in a thread
of its own, for synchronous clients and test runners without asyncio, and is what the pytest
plugin (`opcua_server.testing.pytest_plugin`, the `factory_plant` fixture) yields.

Why here and not in `factory_sim`: the model package knows nothing of OPC UA, and a running
plant is the model served by `opcua_server`. This module wires the two, like the CLI does, but
switches on no process-wide tuning (asyncua speed-ups, garbage collector): an integrator's test
process stays as it was.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import tempfile
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from factory_sim.scenario import Scenario
    from opcua_server.server import SimulationServer

__all__ = ["PlantThread", "RunningPlant", "free_port", "running_plant"]



def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def find_scenario(scenario: str | Path) -> Path:
    """A scenario file: a path, or the name of a scenario shipped with factory-sim."""
    from factory_sim.shipped import shipped_scenario

    path = Path(scenario)
    if path.is_file():
        return path
    shipped = shipped_scenario(str(scenario))
    if shipped is None:
        raise FileNotFoundError(f"scenario {str(scenario)!r}: no such file, nor a shipped "
                                "scenario of that name (`factory-sim scenarios` lists them)")
    return shipped


@dataclass
class RunningPlant:
    """A started plant: where it listens, who may log in, and how to move its time."""

    server: SimulationServer
    state_dir: Path
    #: user name -> password, for the `users` asked for (passwords made up per run)
    passwords: dict[str, str] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    @property
    def plant(self):
        """The model itself (read it; drive it only through `step`)."""
        return self.server.plant

    @property
    def now(self) -> float:
        """Simulated seconds since the plant's start."""
        return self.server.plant.now

    @property
    def secured(self) -> bool:
        return self.server.settings.security is not None

    async def step(self, seconds: float) -> None:
        """Run the paused plant `seconds` of simulated time and publish what happened, as the
        Simulation.Step method does (subscribed clients get the changes at their next
        publishing interval)."""
        await self.server.pacer.step(seconds)

    def client_certificate(self, name: str = "client") -> tuple[Path, Path]:
        """A client certificate the server trusts (DER) and its private key (PEM), for
        `urn:factory-sim:test:<name>`: connect with that application URI."""
        from cryptography.x509.oid import ExtendedKeyUsageOID

        from opcua_server.security import write_self_signed_certificate

        if not self.secured:
            raise RuntimeError("client certificates need a secured plant (give users)")
        trusted = self.state_dir / "pki" / "trusted"
        cert, key = trusted / f"{name}-cert.der", self.state_dir / "clients" / f"{name}-key.pem"
        if not cert.is_file():
            write_self_signed_certificate(cert, key, self.application_uri(name), name,
                                          [ExtendedKeyUsageOID.CLIENT_AUTH])
        return cert, key

    @staticmethod
    def application_uri(name: str = "client") -> str:
        return f"urn:factory-sim:test:{name}"


@asynccontextmanager
async def running_plant(scenario: str | Path | Scenario = "reference-opcua", *,
                        seed: int | None = None, users: Mapping[str, str] | None = None,
                        allow_anonymous: bool = True, history: bool = False,
                        host: str = "127.0.0.1", port: int | None = None,
                        state_dir: Path | None = None,
                        **settings: Any) -> AsyncIterator[RunningPlant]:
    """Start a plant's OPC UA server, paused at simulated time 0, and stop it on exit.

    `users` (name -> role: viewer, operator or engineer) turns security on, with a password
    made up for each (`plant.passwords`), a server certificate made into `state_dir` (a
    temporary folder by default) and trusted client certificates from
    `plant.client_certificate()`. Other keyword arguments go to `ServerSettings`.
    """
    from factory_sim.plant import Plant
    from factory_sim.scenario import Scenario, load_scenario
    from opcua_server.server import ServerSettings, SimulationServer

    if not isinstance(scenario, Scenario):
        scenario = load_scenario(find_scenario(scenario))
    with tempfile.TemporaryDirectory(prefix="factory-plant-") as temporary:
        state = Path(state_dir) if state_dir is not None else Path(temporary)
        passwords: dict[str, str] = {}
        security = None
        if users:
            from opcua_server.security import SecuritySettings
            from opcua_server.users import Role, add_user

            users_file = state / "users.yaml"
            for name, role in users.items():
                passwords[name] = secrets.token_urlsafe(12)
                add_user(users_file, name, Role.parse(role), passwords[name], replace=True)
            (state / "pki" / "trusted").mkdir(parents=True, exist_ok=True)
            security = SecuritySettings(state_dir=state, users_file=users_file,
                                        allow_anonymous=allow_anonymous)
        history_settings = None
        if history:
            from opcua_server.history import HistorySettings

            history_settings = HistorySettings()
        settings.setdefault("paused", True)
        server = SimulationServer(Plant(scenario, seed=seed), ServerSettings(
            host=host, port=port or free_port(host), security=security,
            history=history_settings, **settings))
        await server.start()
        try:
            yield RunningPlant(server, state, passwords)
        finally:
            await server.stop()


class PlantThread:
    """`running_plant` in a thread with its own event loop, for synchronous code:

        with PlantThread("reference-opcua", seed=7) as plant:
            connect_my_client(plant.endpoint)
            plant.step(600)
    """

    def __init__(self, *args: Any, timeout_s: float = 120.0, **kwargs: Any) -> None:
        self._args, self._kwargs, self._timeout = args, kwargs, timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._context = None
        self.running: RunningPlant | None = None

    def __enter__(self) -> PlantThread:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="factory-plant",
                                        daemon=True)
        self._thread.start()
        self._context = running_plant(*self._args, **self._kwargs)
        try:
            self.running = self.run(self._context.__aenter__())
        except BaseException:
            self._close_loop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            if self.running is not None:
                self.run(self._context.__aexit__(None, None, None))
        finally:
            self.running = None
            self._close_loop()

    def run(self, coroutine):
        """Run a coroutine in the plant's event loop and return its result."""
        if self._loop is None:
            raise RuntimeError("the plant is not running")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(self._timeout)

    def _close_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(self._timeout)
        self._loop.close()
        self._loop = self._thread = None

    # ---- what RunningPlant offers, synchronously ----
    @property
    def endpoint(self) -> str:
        return self.running.endpoint

    @property
    def now(self) -> float:
        return self.running.now

    @property
    def passwords(self) -> dict[str, str]:
        return self.running.passwords

    @property
    def server(self) -> SimulationServer:
        return self.running.server

    def step(self, seconds: float) -> None:
        self.run(self.running.step(seconds))

    def client_certificate(self, name: str = "client") -> tuple[Path, Path]:
        return self.running.client_certificate(name)

    def application_uri(self, name: str = "client") -> str:
        return self.running.application_uri(name)
