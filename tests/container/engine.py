"""A Docker engine for the container tests, and the stand-in images they build on.

Registry images cannot be pulled on the test machines, so the bases come from Debian packages:

- `STAND_IN_BASE`: Debian bookworm (debootstrap, minbase) with Python 3.11 and venv, standing in
  for the Dockerfile's `python:*-slim-bookworm` (passed as `--build-arg BASE=...`). It carries
  the host's CA bundle, which pip inside needs where egress goes through a TLS proxy.
- `MOSQUITTO_IMAGE`: the same with Debian's mosquitto and mosquitto-clients, standing in for
  the compose file's `eclipse-mosquitto` (same paths: /mosquitto/config, /mosquitto/data).

Both are kept in the engine's image store: built once (a few minutes), reused by later runs.
`python -m tests.container.engine` builds them ahead of a test run.

`engine()` answers the engine's client, starting Debian's dockerd (as root) when it is installed
but not running; it returns None with the reason when there is no engine to be had.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.stack.compose import ROOT

DOCKER = Path("/usr/bin/docker")  # Debian's docker.io client (not whatever else is on PATH)
DOCKERD = Path("/usr/sbin/dockerd")
DEBOOTSTRAP = Path("/usr/sbin/debootstrap")
SOCKET = Path("/var/run/docker.sock")
MIRROR = os.environ.get("FACTORY_SIM_DEBIAN_MIRROR", "http://deb.debian.org/debian")
STAND_IN_BASE = "factory-sim-test/python:3.11-bookworm"
MOSQUITTO_IMAGE = "factory-sim-test/mosquitto:bookworm"
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
BASE_PACKAGES = ["python3", "python3-venv", "python-is-python3", "ca-certificates"]
MOSQUITTO_DOCKERFILE = """\
FROM {base}
RUN apt-get update -qq \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
       mosquitto mosquitto-clients \\
    && rm -rf /var/lib/apt/lists/* \\
    && mkdir -p /mosquitto/config /mosquitto/data \\
    && chown mosquitto:mosquitto /mosquitto/data
CMD ["/usr/sbin/mosquitto", "-c", "/mosquitto/config/mosquitto.conf"]
"""


def docker(*args: str, check: bool = True, timeout: float = 600,
           input: bytes | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(DOCKER), *args], capture_output=True, timeout=timeout,
                            input=input)
    out = subprocess.CompletedProcess(result.args, result.returncode,
                                      result.stdout.decode(errors="replace"),
                                      result.stderr.decode(errors="replace"))
    if check and out.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:3])}... failed:\n{out.stdout}{out.stderr}")
    return out


def _answers() -> bool:
    return docker("version", "--format", "{{.Server.Version}}", check=False,
                  timeout=30).returncode == 0


def engine() -> str | None:
    """None when a Docker engine answers (started here if need be), else why there is none."""
    if not DOCKER.exists() or not DOCKERD.exists():
        return "no Docker engine: Debian's docker.io is not installed (scripts/install-docker)"
    if _answers():
        return None
    if os.geteuid() != 0:
        return "no Docker engine running, and dockerd needs root to start"
    log = open(Path(tempfile.gettempdir()) / "factory-sim-dockerd.log", "ab")  # noqa: SIM115
    subprocess.Popen([str(DOCKERD)], stdout=log, stderr=subprocess.STDOUT,
                     stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if SOCKET.exists() and _answers():
            return None
        time.sleep(0.5)
    return "dockerd did not start within 60 s (see factory-sim-dockerd.log in the temp folder)"


def has_image(tag: str) -> bool:
    return docker("image", "inspect", tag, check=False, timeout=30).returncode == 0


def build_stand_in_base() -> None:
    """debootstrap Debian bookworm with Python into a folder and import it as STAND_IN_BASE."""
    if has_image(STAND_IN_BASE):
        return
    if not DEBOOTSTRAP.exists():
        raise RuntimeError("debootstrap is not installed (scripts/install-docker)")
    with tempfile.TemporaryDirectory(prefix="factory-sim-base-", dir="/var/tmp") as folder:
        rootfs = Path(folder) / "rootfs"
        subprocess.run(
            [str(DEBOOTSTRAP), "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
             "bookworm", str(rootfs), MIRROR],
            check=True, capture_output=True, timeout=1800,
        )
        if HOST_CA.exists():  # the host's trust, e.g. an egress proxy's CA
            shutil.copyfile(HOST_CA, rootfs / "etc/ssl/certs/ca-certificates.crt")
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (rootfs / cache).glob("*"):
                if item.is_file():
                    item.unlink()
        tar = subprocess.run(["tar", "-C", str(rootfs), "-c", "."], capture_output=True,
                             check=True, timeout=600)
        docker("import",
               "--change", "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
               "--change", "ENV LANG=C.UTF-8",
               "--change", 'CMD ["python3"]',
               "-", STAND_IN_BASE, input=tar.stdout)


def build_mosquitto_image() -> None:
    """Debian's Mosquitto on the stand-in base, laid out like the eclipse-mosquitto image."""
    if has_image(MOSQUITTO_IMAGE):
        return
    with tempfile.TemporaryDirectory(prefix="factory-sim-mosquitto-") as folder:
        (Path(folder) / "Dockerfile").write_text(MOSQUITTO_DOCKERFILE.format(base=STAND_IN_BASE))
        docker("build", "--network", "host", "-t", MOSQUITTO_IMAGE, folder, timeout=1200)


def prepare() -> str | None:
    """An engine and both stand-in images; None when ready, else why not."""
    reason = engine()
    if reason is None:
        build_stand_in_base()
        build_mosquitto_image()
    return reason


if __name__ == "__main__":
    started = time.monotonic()
    problem = prepare()
    print(problem or f"engine and stand-in images ready ({time.monotonic() - started:.0f} s)"
          f"; project: {ROOT}")
