"""Fixtures of the stack tests: the real servers the stack's files configure.

- `influxql`: Debian's InfluxDB 1.x (an InfluxQL engine), database `factory`.
- `stack_mosquitto`: Mosquitto with the stack's own deploy/mosquitto files — its config (on a
  free loopback port instead of 1883, files in a temporary folder), the ACL, and the password
  file written by make-passwords.sh from .env.example's passwords.
"""

from __future__ import annotations

import getpass
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import MOSQUITTO, Service, require_binary, running
from tests.stack.compose import ROOT, read_env
from tests.stack.influxql import INFLUXD, InfluxQL

DEPLOY = ROOT / "deploy/mosquitto"


class StackMosquitto(Service):
    """Mosquitto configured by deploy/mosquitto; `users` are the logins of make-passwords.sh."""

    name = "mosquitto"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        super().__init__(workdir, port)
        self.url = f"mqtt://{self.host}:{self.port}"
        env = read_env()
        self.users = {"bridge": env["MQTT_BRIDGE_PASSWORD"],
                      "dashboard": env["MQTT_DASHBOARD_PASSWORD"]}
        password_file = workdir / "passwd"
        subprocess.run(
            ["/bin/sh", str(DEPLOY / "make-passwords.sh")], check=True, capture_output=True,
            env={"PATH": os.environ["PATH"], "PASSWORD_FILE": str(password_file),
                 "MQTT_BRIDGE_PASSWORD": self.users["bridge"],
                 "MQTT_DASHBOARD_PASSWORD": self.users["dashboard"]},
        )
        config = (DEPLOY / "mosquitto.conf").read_text()
        replacements = {  # container paths and port -> this test's
            r"^listener 1883$": f"listener {self.port} {self.host}",
            r"^password_file /mosquitto/data/passwd$": f"password_file {password_file}",
            r"^acl_file /mosquitto/config/acl$": f"acl_file {DEPLOY / 'acl'}",
            r"^persistence_location /mosquitto/data/$": f"persistence_location {workdir}/",
        }
        for pattern, replacement in replacements.items():
            config, count = re.subn(pattern, replacement, config, flags=re.M)
            assert count == 1, f"deploy/mosquitto/mosquitto.conf: no line {pattern}"
        if os.geteuid() == 0:
            config += f"user {getpass.getuser()}\n"  # stay root: the files are root's
        self.config_path = workdir / "mosquitto.conf"
        self.config_path.write_text(config)

    def command(self) -> list[str]:
        return [str(MOSQUITTO), "-c", str(self.config_path)]


@pytest.fixture
def stack_mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackMosquitto]:
    require_binary(MOSQUITTO)
    with running(StackMosquitto(tmp_path_factory.mktemp("stack-mosquitto"))) as broker:
        yield broker


@pytest.fixture(scope="module")
def influxql(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxQL]:
    require_binary(INFLUXD)
    with running(InfluxQL(tmp_path_factory.mktemp("influxql"))) as database:
        database.query("CREATE DATABASE factory")
        yield database
