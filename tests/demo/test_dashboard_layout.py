"""The HMI's first screen in chromium: on a 1280×720 projector every tile and both plants'
alarm panels are in view without scrolling; four plants fit 1920×1080.

Screenshots of both themes land in the test's tmp dir, or in $FACTORY_SIM_DOCS_SCREENSHOTS
(docs/demo/) to refresh the documentation's pictures.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.demo.demo_process import DemoProcess
from tests.demo.test_dashboard_browser import CHROMIUM, CHROMIUM_ARGS, poll

FOUR = ["reference-standalone", "reference-vendor", "reference-opcua", "reference-unified"]


def shots_dir(tmp_path: Path) -> Path:
    return Path(os.environ.get("FACTORY_SIM_DOCS_SCREENSHOTS") or tmp_path)


def outside(page, selector: str, width: int, height: int) -> list[str]:
    """Test ids of the elements matching `selector` that are not wholly in the viewport."""
    result = []
    for element in page.query_selector_all(selector):
        box = element.bounding_box()
        if box is None or box["x"] < 0 or box["y"] < 0 or box["x"] + box["width"] > width \
                or box["y"] + box["height"] > height:
            result.append(f"{element.get_attribute('data-testid')}: {box}")
    return result


def check_first_screen(demo, tmp_path, plants: int, sizes, name: str, must_fit) -> None:
    """Screenshots at every size and theme; the first screen checked at `must_fit` sizes."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                             headless=True)
        try:
            for width, height in sizes:
                for theme in ("light", "dark"):
                    page = browser.new_page(viewport={"width": width, "height": height})
                    page.goto(f"{demo.dashboard}?theme={theme}")
                    assert poll(lambda p=page: len(p.query_selector_all(
                        "[data-testid^=tile-]")) == 4 * plants, timeout=60)
                    page.wait_for_selector("[data-testid=replay-0-lead_time_h]",
                                           timeout=60_000)
                    page.wait_for_timeout(1500)  # charts draw
                    if (width, height) in must_fit:
                        assert page.evaluate("document.scrollingElement.scrollTop") == 0
                        tiles = outside(page, "[data-testid^=tile-]", width, height)
                        alarms = outside(page, "[data-testid^=alarms-]", width, height)
                        assert tiles == [] and alarms == [], (width, height, tiles, alarms)
                        assert len(page.query_selector_all("[data-testid^=alarms-]")) >= plants
                    page.screenshot(path=str(shots_dir(tmp_path) /
                                             f"{name}-{width}x{height}-{theme}.png"))
                    page.close()
        finally:
            browser.close()
    print(f"screenshots in {shots_dir(tmp_path)}")


@pytest.fixture(autouse=True)
def chromium():
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is not installed; run scripts/install-test-services")


def test_two_plants_fit_a_projector_and_a_full_hd_screen(tmp_path):
    with DemoProcess(["--speed", "600"]) as demo:
        check_first_screen(demo, tmp_path, 2, [(1280, 720), (1920, 1080)], "demo-2-plants",
                           must_fit=[(1280, 720), (1920, 1080)])


def test_four_plants_fit_a_full_hd_screen(tmp_path):
    with DemoProcess(["--speed", "600", *FOUR]) as demo:
        check_first_screen(demo, tmp_path, 4, [(1920, 1080), (1280, 720)], "demo-4-plants",
                           must_fit=[(1920, 1080)])
