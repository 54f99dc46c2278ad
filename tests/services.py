"""Real servers for the tests: private Mosquitto and VictoriaMetrics on free loopback ports.

Fixtures (function-scoped: both start in well under a second):

- `mosquitto`: an MQTT broker, persistence off.
- `mosquitto_persistent`: the same with persistence on, for tests whose subscriber must keep its
  session (and the messages queued for it) across a broker restart, as a production broker would.
- `victoria_metrics`: a time series that accepts InfluxDB's `/api/v2/write`.

`Mosquitto(..., users={"name": "password"}, tls=make_test_pki(dir))` builds a broker that
demands a password and/or speaks TLS (mqtts) with a throw-away CA, for security tests.

Each yields a service with `.host`, `.port`, `.url`, `.stop()` and `.start()` (restart on the same
port and data directory) for fault tests. `MqttRecorder` is a real paho subscriber that records
what arrives. A missing binary skips the test with the install command, except under CI
(`CI=true`), where it fails: CI must never pass by skipping.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from opcua_server.testing import free_port  # the one an integrator gets; tests import it here too

MOSQUITTO = Path("/usr/sbin/mosquitto")
VICTORIA_METRICS = Path("/usr/bin/victoria-metrics")
_START_TIMEOUT = 15.0


def require_binary(path: Path) -> None:
    """Skip (or, under CI, fail) when a test service is not installed."""
    if path.is_file() and os.access(path, os.X_OK):
        return
    message = f"{path} is not installed; run scripts/install-test-services"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


class Service:
    """A server process on a fixed loopback port that can be stopped and started again."""

    name = "service"
    start_timeout = _START_TIMEOUT  # a slower server (an Erlang VM booting) sets its own

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{self.name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str] | None:
        """The server's environment (None: this process's)."""
        return None

    def ready(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), 0.5):
            return True
        return False

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The running process's id (benchmarks read its CPU time), None when stopped."""
        return self._process.pid if self.running else None

    def start(self) -> None:
        if self.running:
            return
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.environment(),
            )
        deadline = time.monotonic() + self.start_timeout
        while not self.ready():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"{self.name} did not start on {self.host}:{self.port}; its log ends:\n"
                    + self.log_tail()
                )
            time.sleep(0.02)

    def stop(self) -> None:
        """Terminate gracefully (as a service manager would) and wait for the process."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


@dataclass(frozen=True)
class TestPki:
    """A throw-away CA and a server certificate for 127.0.0.1/localhost, as PEM files."""

    ca: Path
    cert: Path
    key: Path


def make_test_pki(directory: Path) -> TestPki:
    from datetime import UTC, datetime, timedelta
    from ipaddress import IPv4Address

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)

    def build(subject: str, issuer: x509.Name | None, signer: Any, public: Any, ca: bool):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
            .public_key(public).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]
                ),
                critical=False,
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = build("factory-sim test CA", None, ca_key, ca_key.public_key(), ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build("127.0.0.1", ca_cert.subject, ca_key, key.public_key(), ca=False)
    pki = TestPki(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    pki.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    return pki


class Mosquitto(Service):
    name = "mosquitto"

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        persistent: bool = False,
        users: dict[str, str] | None = None,
        tls: TestPki | None = None,
    ) -> None:
        super().__init__(workdir, port)
        self.persistent = persistent
        self.url = f"{'mqtts' if tls else 'mqtt'}://{self.host}:{self.port}"
        lines = [
            f"listener {self.port} {self.host}",
            f"allow_anonymous {'false' if users else 'true'}",
            f"persistence {'true' if persistent else 'false'}",
            f"persistence_location {workdir}/",
            # Let a subscriber that is away (e.g. during a restart) miss nothing.
            "max_queued_messages 1000000",
            "log_dest stdout",
            "log_type error",
            "log_type warning",
        ]
        if os.geteuid() == 0:
            lines.append(f"user {getpass.getuser()}")  # stay root: the files are root's
        if users:
            password_file = workdir / "passwords"
            password_file.write_text("".join(f"{name}:{pw}\n" for name, pw in users.items()))
            password_file.chmod(0o600)
            # mosquitto_passwd -U hashes the plain-text file in place.
            subprocess.run(["mosquitto_passwd", "-U", str(password_file)], check=True)
            lines.append(f"password_file {password_file}")
        if tls:
            lines += [f"cafile {tls.ca}", f"certfile {tls.cert}", f"keyfile {tls.key}"]
        self.config_path = workdir / "mosquitto.conf"
        self.config_path.write_text("\n".join(lines) + "\n")

    def command(self) -> list[str]:
        return [str(MOSQUITTO), "-c", str(self.config_path)]


class VictoriaMetrics(Service):
    name = "victoria-metrics"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        super().__init__(workdir, port)
        self.url = f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        return [
            str(VICTORIA_METRICS), f"-httpListenAddr={self.host}:{self.port}",
            f"-storageDataPath={self.workdir / 'data'}", "-retentionPeriod=100y",
            "-loggerLevel=ERROR",
        ]

    def ready(self) -> bool:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/health", timeout=1):
            return True
        return False

    def export(self, match: str) -> list[dict[str, Any]]:
        """Every raw sample of the series matching a selector, e.g. `{__name__=~"counters_.*"}`:
        one dict per series with "metric" (labels), "values" and "timestamps" (ms)."""
        with urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=10):
            pass
        query = urllib.parse.urlencode({"match[]": match})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=10) as response:
            return [json.loads(row) for row in response.read().decode().splitlines() if row]

    def wait_for_samples(
        self, match: str, count: int, timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """Poll `export` until the matching series hold at least `count` samples in total."""
        deadline = time.monotonic() + timeout
        while True:
            series = self.export(match)
            if (found := sum(len(s["values"]) for s in series)) >= count:
                return series
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{match}: {found} of {count} samples within {timeout:g} s")
            time.sleep(0.1)


def condition_name(condition: Callable[..., object]) -> str:
    """Where a waited-for condition is written (`<lambda>` at tests/...py:123), for the failure."""
    code = getattr(condition, "__code__", None)
    name = getattr(condition, "__qualname__", repr(condition))
    if code is None:
        return name
    return f"{name} at {os.path.relpath(code.co_filename)}:{code.co_firstlineno}"


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    qos: int

    def json(self) -> Any:
        return json.loads(self.payload)


class MqttRecorder:
    """A real paho subscriber that records every message it receives, thread-safely.

    With `session=True` it keeps a persistent session (clean_session off), so a broker with
    persistence queues messages for it while it is away.
    """

    def __init__(
        self,
        broker: Mosquitto,
        topic: str = "#",
        session: bool = False,
        username: str | None = None,
        password: str | None = None,
        tls_ca: Path | None = None,
    ) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[Received] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        client_id = f"recorder-{free_port()}"
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id,
            clean_session=not session,
        )
        self._client.reconnect_delay_set(0.1, 0.5)
        if username is not None:
            self._client.username_pw_set(username, password)
        if tls_ca is not None:
            self._client.tls_set(ca_certs=str(tls_ca))
        self._topic = topic
        # `settle()` markers come back on a topic of this recorder's own, kept out of `messages`
        self._marker_topic = f"_test/marker/{client_id}"
        self._markers: set[bytes] = set()

        def on_connect(client: Any, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
            if not reason.is_failure and not flags.session_present:
                client.subscribe([(topic, 1), (self._marker_topic, 1)])

        def on_subscribe(*_args: Any) -> None:
            self._subscribed.set()

        def on_message(_c: Any, _u: Any, message: Any) -> None:
            received = Received(message.topic, message.payload, bool(message.retain), message.qos)
            with self._lock:
                if message.topic == self._marker_topic:
                    self._markers.add(message.payload)
                else:
                    self.messages.append(received)

        self._client.on_connect = on_connect
        self._client.on_subscribe = on_subscribe
        self._client.on_message = on_message
        self._client.connect(broker.host, broker.port, keepalive=10)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            self.close()
            raise RuntimeError(f"could not subscribe to {topic} on {broker.url}")

    def snapshot(self, where: Callable[[Received], bool] = lambda m: True) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if where(m)]

    def wait_until(
        self, done: Callable[[list[Received]], bool], timeout: float = 30.0
    ) -> list[Received]:
        """Wait until `done(messages)` holds and return the messages; fail the test, naming the
        condition, if it does not hold within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not done(messages := self.snapshot()):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not met within {timeout:g} s: {condition_name(done)} "
                    f"({len(messages)} messages on {self._topic})")
            time.sleep(0.05)
        return messages

    def settle(self, topic: str | None = None) -> list[Received]:
        """Publish a marker to ourselves and wait for it: every message the broker queued for us
        before (e.g. retained ones sent on subscribing) has arrived by then. By default the
        marker goes to this recorder's own marker topic (never in `messages`); a given `topic`
        must be covered by the subscription (a broker's ACL may allow only some topics)."""
        marker = f"marker-{free_port()}".encode()
        if topic is None:
            self._client.publish(self._marker_topic, marker, qos=1)
            deadline = time.monotonic() + 10
            while True:
                with self._lock:  # the messages as the marker found them, not older
                    if marker in self._markers:
                        return list(self.messages)
                if time.monotonic() > deadline:
                    raise AssertionError(f"settle: no marker back on {self._marker_topic} "
                                         f"within 10 s")
                time.sleep(0.05)
        self._client.publish(topic, marker, qos=1)
        messages = self.wait_until(lambda ms: any(m.payload == marker for m in ms), timeout=10)
        return [m for m in messages if m.topic != topic]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@contextlib.contextmanager
def running(service: Service) -> Iterator[Service]:
    service.start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    require_binary(MOSQUITTO)
    with running(Mosquitto(tmp_path_factory.mktemp("mosquitto"))) as broker:
        yield broker


@pytest.fixture
def mosquitto_persistent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    require_binary(MOSQUITTO)
    with running(Mosquitto(tmp_path_factory.mktemp("mosquitto"), persistent=True)) as broker:
        yield broker


@pytest.fixture
def victoria_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    require_binary(VICTORIA_METRICS)
    with running(VictoriaMetrics(tmp_path_factory.mktemp("victoria-metrics"))) as database:
        yield database
