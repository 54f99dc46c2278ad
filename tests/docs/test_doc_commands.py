"""Every command on the documentation's pages runs (the convention: docs/internals/docs.md).

Each page's ```bash blocks run in order, in a fresh folder of the page's own, with the project's
`factory-sim` first on PATH: a command must exit 0; `factory-sim serve|demo|bridge` must get
ready (print their endpoint, page or `bridging` line); with a trailing `&` they keep running
until the end of their block, else they are stopped (Ctrl-C) once ready and must exit 0.
"""

from __future__ import annotations

import os
import queue
import secrets
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.docs.doc_commands import DOCS, Block, blocks, commands, long_running, pages

pytestmark = pytest.mark.timeout(1800)  # a page of replicated experiments: minutes
BIN = Path(sys.executable).parent
READY_TIMEOUT_S = 120.0
COMMAND_TIMEOUT_S = 900.0
RUNNABLE = [page for page in pages() if any(not b.not_run for b in blocks(page))]


def _environment(folder: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", MPLCONFIGDIR=str(folder / ".mpl"),
               PW=secrets.token_urlsafe(16),  # what a page's `$PW` stands for
               PYTHONUNBUFFERED="1")
    return env


class Served:
    """A command that serves until stopped, its output collected line by line."""

    def __init__(self, argv: list[str], folder: Path, env: dict[str, str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.process = subprocess.Popen(argv, cwd=folder, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, text: str) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    return False
                continue
            self.seen.append(line)
            if text in line:
                return True
        return False

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def run_block(block: Block, folder: Path, env: dict[str, str]) -> None:
    background: list[Served] = []
    try:
        for command in block.commands:
            where = f"{block.where}: {command}"
            ready = long_running(command.lstrip())
            if ready is None:
                result = subprocess.run(["bash", "-c", command], cwd=folder, env=env,
                                        capture_output=True, text=True,
                                        timeout=COMMAND_TIMEOUT_S, stdin=subprocess.DEVNULL)
                assert result.returncode == 0, f"{where}\n{result.stdout[-2000:]}" \
                    f"{result.stderr[-2000:]}"
                continue
            words = shlex.split(command, comments=True)
            keep = words[-1] == "&"
            served = Served(words[:-1] if keep else words, folder, env)
            if not served.wait_for(ready):
                served.stop()
                pytest.fail(f"{where}: never printed {ready!r}\n{''.join(served.seen)[-2000:]}")
            if keep:
                background.append(served)
            else:
                assert served.stop() == 0, f"{where}: did not stop cleanly"
    finally:
        for served in reversed(background):
            served.stop()


@pytest.mark.parametrize("page", RUNNABLE, ids=lambda p: str(p.relative_to(DOCS)))
def test_every_command_on_the_page_runs(page: Path, tmp_path: Path) -> None:
    env = _environment(tmp_path)
    for block in blocks(page):
        if not block.not_run:
            run_block(block, tmp_path, env)


def test_the_guides_show_commands():
    """The extraction finds what the pages show (a broken fence pattern would find nothing)."""
    guides = [p for p in RUNNABLE if p.parent.name in ("students", "integrators", "trainers")]
    assert {p.parent.name for p in guides} == {"students", "integrators", "trainers"}


def test_continuations_here_documents_and_the_not_run_marker(tmp_path: Path) -> None:
    assert commands("a \\\n  b  # c\n# only a comment\n\ncat > x <<'EOF'\n1\nEOF\nd\n") == [
        "a b  # c", "cat > x <<'EOF'\n1\nEOF", "d"]
    page = tmp_path / "page.md"
    page.write_text("x\n<!-- not run: needs Docker -->\n```bash\ndocker compose up\n```\n\n"
                    "```text\nnot a command\n```\n```bash\nfactory-sim serve a &\n```\n")
    shown, run = blocks(page)
    assert (shown.not_run, shown.commands, shown.line) == ("needs Docker",
                                                             ["docker compose up"], 3)
    assert (run.not_run, run.commands) == (None, ["factory-sim serve a &"])
    assert long_running("factory-sim serve a &") == "endpoint: "
    page.write_text("<!-- not run: -->\n```bash\nx\n```\n")
    with pytest.raises(ValueError, match="needs a reason"):
        blocks(page)
    page.write_text("```bash\nx\n``` text after the fence\n\n```text\ny\n```\n")
    with pytest.raises(ValueError, match="closed on a line of its own"):
        blocks(page)
