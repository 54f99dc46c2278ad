"""What `factory-sim demo` costs: CPU of every process, MQTT message rate, push latency.

    .venv/bin/python benchmarks/demo_load.py                      # both runs below
    .venv/bin/python benchmarks/demo_load.py --runs default --seconds 60

Runs the real demo (two plants, embedded amqtt broker) with one headless Debian chromium on
its page (pushes only happen to an open page), twice:
- `default`: the default speed, the reference plants (4 cells each);
- `large`: `--lines 25` (100 cells per plant) at 1000x.

For each it prints the CPU of every process of the demo (cores, mean over the window), the MQTT
messages/s the dashboard received (every message the bridges published: it subscribes to all
of them), and the latency from the model event (the OPC UA server's timestamp of the value,
taken when the server turned the model event into a write) to the dashboard's redraw that
pushed it to the browser, p50 and p99, per third of the window: a backlog that grows shows as
latency rising from third to third and as messages waiting in the dashboard's inbox.
Targets (issue 19): the default demo below 0.25 core in total, dashboard and browser included,
with push p99 < 500 ms; `--lines 25` at 1000x below 1.5 cores (browser included).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.demo.demo_process import DemoProcess  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
RUNS = {
    "default": [],
    "large": ["--lines", "25", "--speed", "1000"],
}


def label(cmdline: list[str]) -> str:
    text = " ".join(cmdline)
    for marker, name in (("embedded_broker", "broker (amqtt)"), ("-m dashboard", "dashboard"),
                         ("demo_replay", "replay strip (one-shot)")):
        if marker in text:
            return name
    for command in ("serve", "bridge"):
        if f" {command} " in text:
            if command == "serve":
                return f"serve {cmdline[cmdline.index('serve') + 1]}"
            prefix = cmdline[cmdline.index("--topic-prefix") + 1].rstrip("/")
            return f"bridge {prefix}"
    return "demo (parent)"


def stats(url: str, reset: bool = False) -> dict:
    with urllib.request.urlopen(f"{url}api/stats{'?reset=true' if reset else ''}",
                                timeout=10) as response:
        return json.load(response)


def cpu(processes: dict[int, psutil.Process]) -> dict[int, float]:
    result = {}
    for pid, process in processes.items():
        try:
            times = process.cpu_times()
            result[pid] = times.user + times.system
        except psutil.NoSuchProcess:
            result[pid] = float("nan")
    return result


def measure(name: str, args: list[str], seconds: float, warmup: float) -> None:
    from playwright.sync_api import sync_playwright

    print(f"\n== {name}: factory-sim demo {' '.join(args) or '(defaults)'}; "
          f"{warmup:g} s warm-up, {seconds:g} s measured")
    with DemoProcess(args) as demo, sync_playwright() as playwright:
        print(f"ready in {demo.ready_s} s")
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 720})  # the projector
        page.goto(demo.dashboard)
        page.wait_for_timeout(warmup * 1000)
        processes = {pid: psutil.Process(pid) for pid in demo.pids()
                     if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE}
        labels = {pid: label(p.cmdline()) for pid, p in processes.items()}
        browser_procs = {p.pid: p for p in psutil.Process().children(recursive=True)
                         if "chrom" in p.name()}
        start_stats = stats(demo.dashboard, reset=True)
        start_cpu, browser_cpu = cpu(processes), cpu(browser_procs)
        started = time.monotonic()
        thirds = []
        for _ in range(3):
            page.wait_for_timeout(seconds / 3 * 1000)
            thirds.append(stats(demo.dashboard, reset=True))
        elapsed = time.monotonic() - started
        end_cpu, browser_end = cpu(processes), cpu(browser_procs)
        end_stats = thirds[-1]
        browser.close()

    print(f"{'process':32} {'CPU [cores]':>12}")
    total = 0.0
    for pid in processes:
        share = (end_cpu[pid] - start_cpu[pid]) / elapsed
        if share != share:  # NaN: the one-shot replay ended during the window
            print(f"{labels[pid]:32} {'ended':>12}")
            continue
        total += share
        print(f"{labels[pid]:32} {share:12.3f}")
    print(f"{'total of the demo':32} {total:12.3f}")
    chromium = sum(browser_end[p] - browser_cpu[p] for p in browser_procs) / elapsed
    print(f"{'the browser showing the page':32} {chromium:12.3f}")
    print(f"{'total with the browser':32} {total + chromium:12.3f}")
    rate = (end_stats["mqtt_messages"] - start_stats["mqtt_messages"]) / elapsed
    print(f"MQTT messages/s through the broker to the dashboard: {rate:,.0f}")
    for number, third in enumerate(thirds, 1):
        latency = third["latency_s"]
        print(f"third {number}: latency p50 {_ms(latency['p50'])}, p99 {_ms(latency['p99'])} "
              f"({latency['count']} values pushed); waiting in the dashboard: "
              f"inbox {third['inbox']}, unpushed {third['unpushed']}")
    print(f"UNS messages rejected {end_stats.get('rejected')}, dropped (inbox full) "
          f"{end_stats.get('overflowed')}")


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{1000 * seconds:,.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", choices=sorted(RUNS), default=list(RUNS))
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    args = parser.parse_args()
    print(f"machine: {psutil.cpu_count()} cores, load average "
          f"{', '.join(f'{x:.1f}' for x in psutil.getloadavg())} (shared: others' work counts)")
    for name in args.runs:
        measure(name, RUNS[name], args.seconds, args.warmup)


if __name__ == "__main__":
    main()
