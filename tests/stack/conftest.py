"""Fixtures of the stack tests: the real servers the stack's files configure.

- `influxql`: Debian's InfluxDB 1.x (an InfluxQL engine), database `factory`.
- `stack_mosquitto`: Mosquitto with the stack's own deploy/mosquitto files — its config (on a
  free loopback port instead of 1883, files in a temporary folder), the ACL, and the password
  file written by make-passwords.sh from the passwords scripts/make-env generated.
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
from tests.stack.compose import ROOT, generated_env
from tests.stack.influxql import INFLUXD, InfluxQL

DEPLOY = ROOT / "deploy/mosquitto"


class StackMosquitto(Service):
    """Mosquitto configured by deploy/mosquitto (`config_name`: mosquitto.conf or the TLS
    profile's); `users` are the logins of make-passwords.sh (one per site, and dashboard),
    `health_dir` the folder of the health check's options file."""

    name = "mosquitto"

    def __init__(self, workdir: Path, port: int | None = None,
                 config_name: str = "mosquitto.conf",
                 replace: dict[str, str] | None = None) -> None:
        super().__init__(workdir, port)
        self.url = f"mqtt://{self.host}:{self.port}"
        env = generated_env()
        self.users = {name[5:-9].lower(): value for name, value in env.items()
                      if name.startswith("MQTT_") and name.endswith("_PASSWORD")}
        password_file = workdir / "passwd"
        self.health_dir = workdir / "healthcheck"
        subprocess.run(
            ["/bin/sh", str(DEPLOY / "make-passwords.sh")], check=True, capture_output=True,
            env={"PATH": os.environ["PATH"], "PASSWORD_FILE": str(password_file),
                 "HEALTHCHECK_DIR": str(self.health_dir),
                 **{f"MQTT_{user.upper()}_PASSWORD": pw for user, pw in self.users.items()}},
        )
        config = (DEPLOY / config_name).read_text()
        replacements = {  # container paths and port -> this test's
            r"^listener 1883$": f"listener {self.port} {self.host}",
            r"^password_file /mosquitto/data/passwd$": f"password_file {password_file}",
            r"^acl_file /mosquitto/config/acl$": f"acl_file {DEPLOY / 'acl'}",
            r"^persistence_location /mosquitto/data/$": f"persistence_location {workdir}/",
        }
        replacements.update(replace or {})
        for pattern, replacement in replacements.items():
            config, count = re.subn(pattern, replacement, config, flags=re.M)
            assert count == 1, f"deploy/mosquitto/{config_name}: no line {pattern}"
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
