"""Re-time the trainers' 15-minute script against the page: what a class sees, and when.

Runs the default demo (two plants, the shipped seed) with a headless Chromium on the page and
notes, per simulated moment, what the page shows: the first alarm, each cell going out of
service (on the UNS or only in the simulator's view), the first shift report, and the KPI
tiles and knowledge ages at fixed moments. It prints each with the simulated time and the
wall-clock time it has at the demo's default speed (120x, starting Monday 06:00), so
docs/trainers/demo.md can be checked line by line. It runs faster than 120x (`--speed`, default
600) to save time; the model's events depend on the seed, not on the speed.

    .venv/bin/python benchmarks/demo_script.py [--speed 600] [--until 23:00]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.demo.demo_process import DemoProcess
from tests.demo.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS

PLANTS = ("reference-standalone", "reference-opcua")
CELLS = ("punch-laser", "press-brake", "cobot", "packing")
SNAPSHOTS = ("06:20", "07:00", "10:00", "14:10", "16:00", "20:00", "22:10")
DEMO_SPEED = 120.0
START = "06:00"


def minutes(clock: str) -> int:
    hours, mins = clock.split(":")
    return int(hours) * 60 + int(mins)


def wall(clock: str) -> str:
    seconds = (minutes(clock) - minutes(START)) * 60 / DEMO_SPEED
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--speed", type=float, default=600)
    parser.add_argument("--until", default="23:00", help="simulated Monday time to stop at")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    seen: set[str] = set()
    pending = list(SNAPSHOTS)

    def note(clock: str, what: str) -> None:
        if what not in seen:
            seen.add(what)
            print(f"{clock}  (at 120x {wall(clock):>5})  {what}", flush=True)

    with DemoProcess(["--speed", f"{args.speed:g}"]) as demo, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                             headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(demo.dashboard)
        page.wait_for_selector("[data-testid=state-reference-opcua-packing]", timeout=60_000)
        print(f"demo ready in {demo.ready_s} s; page at {datetime.now():%H:%M:%S}")
        while True:
            text = page.inner_text("[data-testid=clock-reference-opcua]")
            match = re.search(r"(\d\d:\d\d)", text)
            if not match or not text.startswith("Mon"):
                if text.startswith("Tue"):
                    break
                time.sleep(0.2)
                continue
            clock = match.group(1)
            if minutes(clock) >= minutes(args.until):
                break
            for plant in PLANTS:
                for cell in CELLS:
                    state = page.inner_text(f"[data-testid=state-{plant}-{cell}]")
                    if state.startswith("OutOfService"):
                        note(clock, f"{plant} {cell}: {state}")
            alarms = page.inner_text("[data-testid=alarms-reference-opcua]")
            for line in alarms.splitlines():
                if "·" in line and "(" in line:
                    note(clock, f"alarm on the page: {line.strip()}")
            report = page.inner_text("[data-testid=knowledge-reference-standalone-press-brake]")
            if "shift report filed" in report:
                note(clock, f"stand-alone knows: {report}")
            if pending and minutes(clock) >= minutes(pending[0]):
                pending.pop(0)
                kpis = {name: [page.inner_text(f"[data-testid=kpi-{p}-{name}]") for p in PLANTS]
                        for name in ("OEE", "LeadTime", "OnTimeInFull", "MTTR",
                                     "InformationLatency")}
                ages = {p: [page.inner_text(f"[data-testid=age-{p}-{c}]") for c in CELLS]
                        for p in PLANTS}
                note(clock, f"KPIs (standalone, opcua): {kpis}")
                note(clock, f"ages of the factory's knowledge: {ages}")
            time.sleep(0.2)
        browser.close()


if __name__ == "__main__":
    main()
