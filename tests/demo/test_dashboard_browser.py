"""The dashboard in a real browser: Debian's chromium driven by Playwright, a real demo behind it.

Never downloads a browser: Playwright launches /usr/bin/chromium (installed by
scripts/install-test-services). Screenshots land in the test's tmp dir (printed).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from asyncua import Client, ua

from tests.demo.demo_process import DemoProcess

CHROMIUM = Path("/usr/bin/chromium")
PLANTS = ("reference-standalone", "reference-opcua")
CELLS = ("punch-laser", "press-brake", "cobot", "packing")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@pytest.fixture
def browser_page(tmp_path):
    if not CHROMIUM.is_file():
        message = f"{CHROMIUM} is not installed; run scripts/install-test-services"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS, headless=True, viewport={"width": 1500, "height": 1400})
        try:
            yield context.new_page()
        finally:
            context.close()


def in_thread(coroutine):
    """Run an asyncua coroutine beside Playwright's sync API (which owns this thread's loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def poll(check, timeout: float = 90.0, every: float = 0.2):
    """Call `check` until it returns something truthy; returns that (or the last falsy)."""
    deadline = time.monotonic() + timeout
    while not (result := check()) and time.monotonic() < deadline:
        time.sleep(every)
    return result


async def simulated_times(endpoint: str) -> tuple[float, float]:
    async with Client(endpoint, timeout=10) as client:
        ns = await client.get_namespace_index("urn:factory-sim:plant")
        node = client.get_node(ua.NodeId("Simulation/SimulatedTime", ns))
        first = await node.read_value()
        await asyncio.sleep(1.0)
        return first, await node.read_value()


async def read_speed(endpoint: str) -> float:
    async with Client(endpoint, timeout=10) as client:
        ns = await client.get_namespace_index("urn:factory-sim:plant")
        return await client.get_node(ua.NodeId("Simulation/Speed", ns)).read_value()


async def acked_state(endpoint: str, condition_id: str) -> bool:
    async with Client(endpoint, timeout=10) as client:
        condition = client.get_node(ua.NodeId.from_string(condition_id))
        return await (await condition.get_child(["0:AckedState", "0:Id"])).read_value()


def test_the_dashboard_shows_both_plants_live_and_acknowledges_an_alarm(browser_page, tmp_path):
    page = browser_page
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    with DemoProcess(["--speed", "3000"]) as demo:
        page.goto(demo.login)  # the operator's link: logs in, then shows the dashboard
        first_seen = {}
        seen_states: dict[str, set[str]] = {}
        good: dict[str, list[int]] = {}

        def tiles_change() -> bool:
            for plant in PLANTS:
                for cell in CELLS:
                    key = f"{plant}-{cell}"
                    state = page.inner_text(f"[data-testid=state-{key}]")
                    counts = page.inner_text(f"[data-testid=counts-{key}]")
                    seen_states.setdefault(key, set()).add(state.split(" · ")[0])
                    if match := re.match(r"good (\d+)", counts):
                        good.setdefault(key, []).append(int(match.group(1)))
                        first_seen.setdefault(key, int(match.group(1)))
            return all(len(seen_states.get(f"{p}-{c}", ())) >= 2
                       and max(good.get(f"{p}-{c}", [0])) > first_seen.get(f"{p}-{c}", 0)
                       for p in PLANTS for c in CELLS)

        page.wait_for_selector("[data-testid=state-reference-opcua-packing]", timeout=30_000)
        page.screenshot(path=str(tmp_path / "dashboard-start.png"), full_page=True)
        assert poll(tiles_change, every=0.1), (seen_states, good)

        # The stand-alone plant: the factory knows its paper shift report, and how old it is.
        def report_shown() -> str | None:
            text = page.inner_text("[data-testid=knowledge-reference-standalone-press-brake]")
            return text if "shift report filed" in text else None

        report = poll(report_shown)
        age = page.inner_text("[data-testid=age-reference-standalone-press-brake]")
        truth = page.inner_text("[data-testid=truth-reference-standalone-press-brake]")
        assert report and re.search(r"good \d+, scrap \d+, downtime \d+ min", report), report
        assert re.fullmatch(r"\d+(\.\d)? (s|min|h)", age), age
        assert re.search(r"shift so far: good \d+, scrap \d+, downtime \d+ min · now ", truth)
        # the tile says the factory does not know the cell, and how old its report is
        tile = page.inner_text("[data-testid=tile-reference-standalone-press-brake]")
        assert "unknown to the factory: last shift report" in tile, tile
        assert "hmi-unknown" in page.get_attribute(
            "[data-testid=tile-reference-standalone-press-brake]", "class")

        # Each cell's job queue (issue 20): the connected plant's office dispatches every lot
        # as a job order `<order>/<cell>`, the bridge publishes its changes, the page lists
        # them per cell; the stand-alone plant's jobs go on paper: no queue.
        def job_rows() -> list[tuple[str, str, str, str]]:
            rows = []
            for element in page.query_selector_all("[data-testid^=job-reference-opcua-]"):
                rid = element.get_attribute("data-testid").removeprefix("job-")
                rows.append((rid, element.inner_text(),
                             page.inner_text(f"[data-testid=jobstate-{rid}]"),
                             page.inner_text(f"[data-testid=jobcounts-{rid}]")))
            return rows

        rows = poll(job_rows)
        assert {rid.removeprefix("reference-opcua-").rsplit("-", 1)[0] for rid, *_ in rows} \
            == set(CELLS), rows
        for rid, job_order_id, state, counts in rows:
            cell = rid.removeprefix("reference-opcua-").rsplit("-", 1)[0]
            assert job_order_id.endswith(f"/{cell}"), rows
            assert re.fullmatch(r"(NotAllowedToStart|AllowedToStart|Running|Interrupted|Ended|"
                                r"Aborted) · [\w-]+", state), rows
            # good of planned; "?" for a job order known only from the cell's JobOrderList
            # (it tells no counts) until its next change
            assert re.fullmatch(r"(\d+|\?) / \d+", counts), rows
        assert page.query_selector("[data-testid=jobs-empty-reference-standalone]")

        # Pause both plants from the page: simulated time stops on the servers.
        button = page.wait_for_selector("[data-testid^=ack-reference-opcua-]", timeout=90_000)
        page.click("[data-testid=pause-all]")
        for plant in PLANTS:
            assert poll(lambda p=plant: "paused" in page.inner_text(f"[data-testid=status-{p}]"),
                        timeout=20)

        def side_by_side() -> list[tuple[float, float]] | None:
            """Both plants paused at one simulated moment: the dashboard steps the plant
            that paused first up to the other."""
            times = [in_thread(simulated_times(demo.opcua[plant])) for plant in PLANTS]
            still = all(first == second for first, second in times)
            return times if still and times[0][0] == pytest.approx(times[1][0]) else None

        assert poll(side_by_side, timeout=20)

        # Acknowledge an alarm of the connected plant from the page.
        button = page.query_selector("[data-testid^=ack-reference-opcua-]") or button
        testid = button.get_attribute("data-testid")
        cell, condition = testid.removeprefix("ack-reference-opcua-").rsplit("-", 1)
        page.locator(f"[data-testid='{testid}']").first.click()  # re-found: the panel redraws
        ackstate = f"[data-testid=ackstate-reference-opcua-{cell}-{condition}]"

        def acknowledged_on_page() -> bool:
            element = page.query_selector(ackstate)
            # an acknowledged alarm that is no longer active leaves the list
            return element is None or element.inner_text().endswith(" acknowledged")

        assert poll(acknowledged_on_page, timeout=20)
        condition_id = in_thread(_condition_id(demo.opcua["reference-opcua"], cell, condition))
        assert in_thread(acked_state(demo.opcua["reference-opcua"], condition_id)) is True
        page.screenshot(path=str(tmp_path / "dashboard-paused-acknowledged.png"), full_page=True)

        page.click("[data-testid=resume-all]")
        for plant in PLANTS:
            assert poll(lambda p=plant: "running" in page.inner_text(f"[data-testid=status-{p}]"),
                        timeout=20)
            first, second = in_thread(simulated_times(demo.opcua[plant]))
            assert second > first, plant

        # The speed, from the page, on every server.
        page.click("[data-testid=speed] >> text='600'")
        for plant in PLANTS:
            assert poll(lambda p=plant: "600x" in page.inner_text(f"[data-testid=status-{p}]"),
                        timeout=20)
            assert in_thread(read_speed(demo.opcua[plant])) == 600
        page.wait_for_timeout(3000)
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        if os.environ.get("FACTORY_SIM_DOCS_SCREENSHOT"):  # refresh the docs' picture
            shutil.copy(tmp_path / "dashboard.png", os.environ["FACTORY_SIM_DOCS_SCREENSHOT"])
    print(f"screenshots in {tmp_path}")
    dashboard = urlsplit(demo.dashboard).netloc
    foreign = {urlsplit(url).netloc for url in requested} - {dashboard}
    assert foreign == set(), "the page fetched from elsewhere (a CDN?)"


async def _condition_id(endpoint: str, cell: str, condition: str) -> str:
    """The condition's NodeId as the server names it (plant namespace, `<cell>/<name>`)."""
    async with Client(endpoint, timeout=10) as client:
        ns = await client.get_namespace_index("urn:factory-sim:plant")
        return ua.NodeId(f"{cell}/{condition}", ns).to_string()
