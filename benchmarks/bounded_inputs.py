"""How fast bad inputs are refused, and what the largest accepted `compare` allocates first.

    .venv/bin/python benchmarks/bounded_inputs.py

  * a 2 kB answer sheet of nested aliases (4^39 values expanded): `lab check` in a fresh
    process, wall time to its one-line refusal (against `lab list`, the start-up alone), and
    the loader alone in this process;
  * `compare --replications 99999999999`: wall time to its one-line refusal;
  * the peak resident memory of `compare` at the largest accepted size (4 scenarios × 1,000
    replications) until it is stopped after its first replications (sampled every 20 ms).

Figures drift between machines and with load: compare the lines of one run.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bounded_yaml import YamlInputError, load_yaml

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "factory_cli.main"]


def bomb() -> str:
    lines = ["student: &s0 [s1234567]"]
    lines += [f"x{i}: &s{i} [*s{i - 1}, *s{i - 1}, *s{i - 1}, *s{i - 1}]" for i in range(1, 40)]
    return "\n".join(lines) + "\n"


def timed(argv: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    return time.perf_counter() - started, result.stderr.strip()


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bounded-inputs-"))
    sheet = folder / "answers.yaml"
    sheet.write_text(bomb())
    secret = folder / "course.key"
    secret.write_text("ab" * 32 + "\n")
    started = time.perf_counter()
    with contextlib.suppress(YamlInputError):
        load_yaml(bomb(), "answers.yaml")
    print(f"loader alone, {len(bomb())} B sheet of nested aliases: "
          f"{(time.perf_counter() - started) * 1000:.2f} ms")
    seconds, _ = timed([*CLI, "lab", "list"])
    print(f"baseline: lab list, fresh process (interpreter and imports): {seconds:.2f} s")
    seconds, line = timed([*CLI, "lab", "check", "1", str(sheet), "--secret-file", str(secret)])
    print(f"lab check of that sheet, fresh process: {seconds:.2f} s  ({line})")
    seconds, line = timed([*CLI, "compare", "reference-opcua", "--replications", "99999999999"])
    print(f"compare --replications 99999999999, fresh process: {seconds:.2f} s  ({line})")

    process = psutil.Popen([*CLI, "compare", *["reference-opcua"] * 4, "--replications", "1000",
                            "--duration", "1d", "--quiet", "--jobs", "2"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    peak, started = 0, time.perf_counter()
    while time.perf_counter() - started < 20:
        try:
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.NoSuchProcess:
            break
        time.sleep(0.02)
    for child in process.children(recursive=True):
        child.kill()
    process.kill()
    process.wait()
    print(f"compare, 4 scenarios × 1,000 replications: peak RSS of the process tree in its "
          f"first 20 s: {peak / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
