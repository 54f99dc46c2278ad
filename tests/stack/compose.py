"""docker-compose.yml as Docker Compose reads it: YAML with merge keys, `${VAR}`,
`${VAR:-default}`, `${VAR:?error}` interpolated from .env, `$$` for `$`. The .env of the tests
is what an operator gets: .env.example completed by scripts/make-env (`generated_env()`)."""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
MAKE_ENV = ROOT / "scripts/make-env"
IMAGE = "factory-sim:local"  # the image the Dockerfile builds
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, $NAME, or $$
_REFERENCE = re.compile(
    r"\$\$|\$\{(?P<braced>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<plain>\w+)"
)


def read_env(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    return env


def make_env(target: Path) -> subprocess.CompletedProcess[str]:
    """Run scripts/make-env on `target` (created from .env.example when absent)."""
    return subprocess.run([sys.executable, str(MAKE_ENV), str(target)], capture_output=True,
                          text=True, timeout=60)


@functools.cache
def generated_env() -> dict[str, str]:
    """.env as `scripts/make-env` writes it (once per test process: all fixtures agree)."""
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / ".env"
        result = make_env(target)
        assert result.returncode == 0, result.stderr
        return read_env(target)


def raw() -> dict[str, Any]:
    """The file as YAML (merge keys resolved), before interpolation."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def references(value: Any) -> set[str]:
    """Names of the variables a value (or any string inside it) refers to."""
    if isinstance(value, dict):
        return set().union(*(references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(references(v) for v in value)) if value else set()
    if isinstance(value, str):
        return {m.group("braced") or m.group("plain") for m in _REFERENCE.finditer(value)
                if m.group(0) != "$$"}
    return set()


def interpolate(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("braced") or match.group("plain")
        op, arg = match.group("op"), match.group("arg")
        current = env.get(name)
        empty = current is None or (current == "" and op and op.startswith(":"))
        if op and op.endswith("-") and empty:
            return arg
        if op and op.endswith("?") and empty:
            raise KeyError(f"{name}: {arg}")
        if current is None:
            raise KeyError(f"{name} is not set")
        return current

    return _REFERENCE.sub(replace, value)


def load(env: dict[str, str] | None = None) -> dict[str, Any]:
    return interpolate(raw(), generated_env() if env is None else env)


@dataclass(frozen=True)
class Invocation:
    """One `factory-sim ...` command a service runs: its service and its arguments."""

    service: str
    argv: list[str]


def factory_sim_invocations(services: dict[str, Any]) -> list[Invocation]:
    """Every `factory-sim` command of the services that run the project's image: the
    entrypoint's command, or each `factory-sim ...` in a `sh -c` script."""
    found = []
    for name, service in services.items():
        if service.get("image") != IMAGE:
            continue
        entrypoint, command = service.get("entrypoint"), service.get("command")
        if entrypoint is None:
            found.append(Invocation(name, [str(part) for part in command]))
        elif entrypoint[:2] == ["/bin/sh", "-c"]:
            script = command[0] if isinstance(command, list) else command
            for part in re.split(r"\|\||&&|[|;]", script):
                words = shlex.split(part)
                if words and words[0] == "factory-sim":
                    found.append(Invocation(name, words[1:]))
        else:
            raise AssertionError(f"{name}: unexpected entrypoint {entrypoint!r}")
    return found


def option(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else None
