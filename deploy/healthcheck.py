"""Container health check of the factory-sim image (Dockerfile HEALTHCHECK), for both roles.

    FACTORY_SIM_HEALTHCHECK="listen:4840"          # serve: the OPC UA port is listening
    FACTORY_SIM_HEALTHCHECK="connected:4840,1883"  # bridge: connected to these remote ports
    (unset)                                        # one-off commands: nothing to check

It reads the container's own socket table (/proc/net/tcp, tcp6) rather than connecting: a bare
TCP connect without an OPC UA Hello would make the server log an error every interval, and
the bridge has no port of its own. Exit 0 healthy, 1 not (with one line saying why).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

LISTEN, ESTABLISHED = "0A", "01"


def sockets(proc: Path = Path("/proc/net")) -> list[tuple[int, int, str]]:
    """(local port, remote port, state) of every TCP socket in this network namespace."""
    found = []
    for name in ("tcp", "tcp6"):
        path = proc / name
        if not path.exists():
            continue
        for row in path.read_text().splitlines()[1:]:
            fields = row.split()
            local, remote, state = fields[1], fields[2], fields[3]
            found.append((int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16),
                          state))
    return found


def check(spec: str, proc: Path = Path("/proc/net")) -> str | None:
    """None when healthy, else why not."""
    if not spec:
        return None
    kind, _, ports_text = spec.partition(":")
    try:
        ports = [int(port) for port in ports_text.split(",")]
    except ValueError:
        return f"FACTORY_SIM_HEALTHCHECK={spec!r}: expected listen:PORT or connected:PORT,..."
    table = sockets(proc)
    if kind == "listen":
        missing = [p for p in ports if (p, 0, LISTEN) not in table]
        return f"not listening on {missing}" if missing else None
    if kind == "connected":
        remote = {r for _local, r, state in table if state == ESTABLISHED}
        missing = [p for p in ports if p not in remote]
        return f"no connection to port(s) {missing}" if missing else None
    return f"FACTORY_SIM_HEALTHCHECK={spec!r}: expected listen:PORT or connected:PORT,..."


if __name__ == "__main__":
    problem = check(os.environ.get("FACTORY_SIM_HEALTHCHECK", ""))
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
    sys.exit(1 if problem else 0)
