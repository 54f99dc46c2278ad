"""A real InfluxQL engine for the stack tests: Debian's `influxdb` (1.x) on a free loopback port.

`InfluxQL.query(q)` runs an InfluxQL query (`/query`, as Grafana's InfluxQL datasource does).
InfluxDB 1.x before 1.8 has no `/api/v2/write`, which the bridge speaks (influxdb-client);
`V2WriteRelay` takes the bridge's v2 writes and hands the body unchanged to `/write?db=BUCKET`
— what an InfluxDB 2 with a v1 database mapping does on its side — so the lines in the
database are exactly the lines the bridge wrote.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.services import Service, free_port

INFLUXD = Path("/usr/bin/influxd")


class InfluxQL(Service):
    name = "influxd"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        super().__init__(workdir, port)
        self.url = f"http://{self.host}:{self.port}"
        config = f"""
reporting-disabled = true
bind-address = "{self.host}:{free_port()}"
[meta]
  dir = "{workdir}/meta"
[data]
  dir = "{workdir}/data"
  wal-dir = "{workdir}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "{self.host}:{self.port}"
  log-enabled = false
[logging]
  level = "error"
"""
        self.config_path = workdir / "influxdb.conf"
        self.config_path.write_text(config)

    def command(self) -> list[str]:
        return [str(INFLUXD), "-config", str(self.config_path)]

    def ready(self) -> bool:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/ping", timeout=1):
            return True
        return False

    def query(self, q: str, db: str | None = None, epoch: str | None = None) -> dict[str, Any]:
        """The first statement's result of an InfluxQL query; an error raises AssertionError."""
        params = {"q": q, **({"db": db} if db else {}), **({"epoch": epoch} if epoch else {})}
        url = f"{self.url}/query?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(url, method="POST" if q.lstrip().upper().startswith(
            ("CREATE", "DROP")) else "GET")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                result = json.loads(response.read())["results"][0]
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{q}: HTTP {exc.code} {exc.read().decode()}") from None
        if "error" in result:
            raise AssertionError(f"{q}: {result['error']}")
        return result


class V2WriteRelay:
    """`POST /api/v2/write?bucket=B&precision=P` -> `POST {influxql}/write?db=B&precision=P`,
    body and answer passed through unchanged; every body is also kept in `bodies`."""

    def __init__(self, target: InfluxQL) -> None:
        self.bodies: list[bytes] = []
        relay = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                params = urllib.parse.parse_qs(url.query)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if url.path != "/api/v2/write" or "bucket" not in params:
                    self.send_error(404)
                    return
                relay.bodies.append(body)
                query = urllib.parse.urlencode({
                    "db": params["bucket"][0],
                    "precision": {"ns": "n", "us": "u", "ms": "ms", "s": "s"}[
                        params.get("precision", ["ns"])[0]],
                })
                request = urllib.request.Request(f"{target.url}/write?{query}", data=body,
                                                 method="POST")
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        status, answer = response.status, response.read()
                except urllib.error.HTTPError as exc:
                    status, answer = exc.code, exc.read()
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
