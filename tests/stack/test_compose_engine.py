"""The compose files as a real Compose implementation reads them (Debian's docker-compose,
installed by scripts/install-docker): `cp .env.example .env && docker compose config` fails
until scripts/make-env has generated the secrets, and then every published port listens on
127.0.0.1 (the TLS profile adds 8883). docker-compose 1.29 predates the top-level `name`, so
the copy it reads goes without that line."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.stack import compose
from tests.stack.compose import ROOT

DOCKER_COMPOSE = Path("/usr/bin/docker-compose")


def config(folder: Path, *files: str) -> subprocess.CompletedProcess[str]:
    options = [arg for name in files for arg in ("-f", name)]
    return subprocess.run([str(DOCKER_COMPOSE), *options, "config"], cwd=folder,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def project(tmp_path) -> Path:
    if not DOCKER_COMPOSE.exists():
        pytest.skip(f"{DOCKER_COMPOSE} is not installed (scripts/install-docker)")
    text = compose.COMPOSE_FILE.read_text()
    assert text.count("\nname: factory-sim\n") == 1
    (tmp_path / "docker-compose.yml").write_text(text.replace("\nname: factory-sim\n", "\n"))
    shutil.copyfile(ROOT / "docker-compose.tls.yml", tmp_path / "docker-compose.tls.yml")
    shutil.copyfile(compose.ENV_EXAMPLE, tmp_path / ".env")
    return tmp_path


def published(output: str) -> dict[str, list[str]]:
    services = yaml.safe_load(output)["services"]
    return {name: [str(p) for p in s["ports"]] for name, s in services.items() if "ports" in s}


def test_the_example_env_is_refused_until_make_env_ran(project) -> None:
    refused = config(project)
    assert refused.returncode != 0
    assert refused.stderr.strip().endswith("is empty - run scripts/make-env"), refused.stderr
    assert compose.make_env(project / ".env").returncode == 0
    accepted = config(project)
    assert accepted.returncode == 0, accepted.stderr
    ports = published(accepted.stdout)
    assert {"mosquitto", "influxdb", "grafana", "site-lyon"} <= set(ports)
    for name, specs in ports.items():
        for spec in specs:
            assert spec.startswith("127.0.0.1:"), (name, spec)


def test_the_tls_profile_adds_its_listener_and_keeps_the_rest_local(project) -> None:
    assert compose.make_env(project / ".env").returncode == 0
    result = config(project, "docker-compose.yml", "docker-compose.tls.yml")
    assert result.returncode == 0, result.stderr
    ports = published(result.stdout)
    assert sorted(ports["mosquitto"]) == ["0.0.0.0:8883:8883/tcp", "127.0.0.1:1883:1883/tcp"]
    volumes = yaml.safe_load(result.stdout)["services"]["mosquitto"]["volumes"]
    assert any(v.endswith("deploy/mosquitto/mosquitto-tls.conf:/mosquitto/config/mosquitto.conf:ro")
               for v in volumes), volumes
