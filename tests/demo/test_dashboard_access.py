"""A running demo against a hostile publisher, an anonymous viewer and a rebinding site.

One demo for the module (the machine is shared); chromium with Playwright as in
test_dashboard_browser.py, plus a host-resolver rule that makes `attacker.example` this
machine, as DNS rebinding would, and `factory.example` too: the name the demo is told to serve
as well (`--allowed-host`, as behind a reverse proxy).
"""

from __future__ import annotations

import json
import re
import urllib.request

import paho.mqtt.client as mqtt
import pytest

from tests.demo.demo_process import DemoProcess
from tests.demo.test_dashboard_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    in_thread,
    poll,
    read_speed,
    simulated_times,
)
from tests.demo.test_uns_consumer import CELL_TOPIC, HOSTILE, alarm

PLANTS = ("reference-standalone", "reference-opcua")
SPEED = 3000  # alarms come within a minute or two
ALLOWED = "factory.example"
SCRIPT_RAN = "window.__pwned === true"
INJECTION = '"><img src=x onerror="window.__pwned=true"> innerHTML="<b>x</b>'
WEBSOCKET = """url => new Promise(done => {
  const socket = new WebSocket(url);
  socket.onopen = () => { socket.close(); done("open"); };
  socket.onerror = () => done("refused");
  setTimeout(() => done("timeout"), 10000);
})"""


@pytest.fixture(scope="module")
def demo():
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is not installed; run scripts/install-test-services")
    with DemoProcess(["--speed", str(SPEED), "--allowed-host", ALLOWED]) as running:
        yield running


@pytest.fixture
def browser(tmp_path, demo):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM),
            args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP attacker.example 127.0.0.1, "
                  f"MAP {ALLOWED} 127.0.0.1"],
            headless=True, viewport={"width": 1500, "height": 1200})
        try:
            yield context
        finally:
            context.close()


def uns_topics(mqtt_url: str, plant: str, timeout: float = 30.0) -> list[str]:
    """Topics the plant's bridge has published (retained), from the demo's broker."""
    host, port = re.match(r"mqtt://([^:]+):(\d+)", mqtt_url).groups()
    seen: list[str] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-hostile-reader")
    client.on_message = lambda _c, _u, message: seen.append(message.topic)
    client.connect(host, int(port))
    client.subscribe(f"{plant}/#")
    client.loop_start()
    poll(lambda: any(t.endswith("/Monitoring/Power") for t in seen), timeout=timeout)
    client.loop_stop()
    client.disconnect()
    return seen


def publish(mqtt_url: str, messages: list[tuple[str, bytes, bool]]) -> None:
    host, port = re.match(r"mqtt://([^:]+):(\d+)", mqtt_url).groups()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-hostile-publisher")
    client.connect(host, int(port))
    client.loop_start()
    for topic, payload, retain in messages:
        client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)
    client.loop_stop()
    client.disconnect()


def stats(demo) -> dict:
    with urllib.request.urlopen(f"{demo.dashboard}api/stats", timeout=10) as response:
        return json.load(response)


def good_parts(page, plant: str) -> int | None:
    """The plant's good parts on the page; None while the page reloads (NiceGUI reloads a
    page whose socket was away longer than its reconnect timeout, as on a loaded machine)."""
    from playwright.sync_api import Error

    total = 0
    try:
        for element in page.query_selector_all(f"[data-testid^=counts-{plant}-]"):
            if match := re.search(r"good (\d+)", element.inner_text()):
                total += int(match.group(1))
    except Error:
        return None
    return total


def test_hostile_payloads_leave_the_page_updating_run_no_script_and_are_counted(demo, browser):
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(demo.login)
    page.wait_for_selector("[data-testid=state-reference-opcua-packing]", timeout=60_000)
    power = next(t for t in uns_topics(demo.mqtt, "reference-opcua")
                 if t.endswith("/Monitoring/Power"))
    cell_topic = power.rsplit("/", 2)[0]  # plant/enterprise/site/area/line/cell
    hostile = [(cell_topic + topic.removeprefix(CELL_TOPIC), payload, False)
               for topic, payload in HOSTILE if len(payload) < 256_000]
    injected = alarm(ConditionId="ns=9;s=injected", ConditionName=INJECTION,
                     message=INJECTION, EventId="00ff")
    hostile += [(f"{cell_topic}/alarms", json.dumps(injected).encode(), False),
                (power, b'{"value":"abc"}', True)]  # retained: every later viewer gets it
    before = stats(demo)["rejected"]

    publish(demo.mqtt, hostile)

    assert poll(lambda: stats(demo)["rejected"] - before >= len(hostile) - 1, timeout=30), \
        stats(demo)
    # the injected alarm is listed, its texts shown as text, and nothing of it ran
    assert poll(lambda: page.get_by_text(INJECTION, exact=False).count() > 0, timeout=30)
    assert page.evaluate(SCRIPT_RAN) is False and dialogs == []
    assert page.query_selector("img[src=x]") is None
    # a new viewer gets the retained "abc"; both pages still draw both plants (one tab in
    # front at a time: chromium throttles a background tab's timers)
    fresh = browser.new_page()
    fresh.goto(demo.dashboard)
    fresh.wait_for_selector("[data-testid=state-reference-opcua-packing]", timeout=60_000)
    for viewer in (fresh, page):
        viewer.bring_to_front()
        for plant in PLANTS:
            start = poll(lambda v=viewer, p=plant: good_parts(v, p), timeout=30) or 0
            assert poll(lambda v=viewer, p=plant, s=start: (good_parts(v, p) or 0) > s,
                        timeout=60), plant
        assert viewer.evaluate(SCRIPT_RAN) is False
        if viewer is fresh:
            fresh.close()
    assert stats(demo)["rejected"] > before
    publish(demo.mqtt, [(power, b"", True)])  # the retained "abc" goes


def test_without_the_operator_login_the_server_refuses_every_action(demo, browser):
    page = browser.new_page()
    page.goto(demo.dashboard)
    page.wait_for_selector("[data-testid=state-reference-opcua-packing]", timeout=60_000)
    assert "read-only" in page.inner_text("[data-testid=role]")

    page.click("[data-testid=pause-all]")
    page.get_by_text("Pause refused").wait_for(timeout=20_000)
    for plant in PLANTS:
        first, second = in_thread(simulated_times(demo.opcua[plant]))
        assert second > first, f"{plant} paused by an anonymous viewer"

    page.click("[data-testid=speed] >> text='600'")
    page.get_by_text("Speed refused").wait_for(timeout=20_000)
    assert all(in_thread(read_speed(demo.opcua[p])) == SPEED for p in PLANTS)

    button = page.wait_for_selector("[data-testid^=ack-reference-opcua-]", timeout=120_000)
    testid = button.get_attribute("data-testid")
    # a locator, not the element found above: the alarm panel redraws several times a second
    page.locator(f"[data-testid='{testid}']").first.click()
    page.get_by_text("Acknowledge refused").wait_for(timeout=20_000)
    assert page.query_selector(f"[data-testid='{testid}']") is not None  # still to acknowledge


def test_with_the_operator_link_pause_and_resume_work(demo, browser):
    page = browser.new_page()
    wrong = page.goto(demo.login.replace("token=", "token=x"))
    assert wrong.status == 403 and "login refused" in page.content()
    page.goto(demo.login)
    assert page.url == demo.dashboard  # the token left the address bar
    assert "may act" in page.inner_text("[data-testid=role]")
    page.wait_for_selector("[data-testid=state-reference-opcua-packing]", timeout=60_000)

    page.click("[data-testid=pause-all]")
    for plant in PLANTS:
        assert poll(lambda p=plant: (lambda t: t[0] == t[1])(
            in_thread(simulated_times(demo.opcua[p]))), timeout=20), plant
    page.click("[data-testid=resume-all]")
    for plant in PLANTS:
        assert poll(lambda p=plant: (lambda t: t[1] > t[0])(
            in_thread(simulated_times(demo.opcua[p]))), timeout=20), plant


def test_a_rebinding_host_and_a_foreign_origin_are_refused(demo, browser):
    port = demo.dashboard.rsplit(":", 1)[1].strip("/")
    socket_url = f"ws://127.0.0.1:{port}/_nicegui_ws/socket.io/?EIO=4&transport=websocket"
    page = browser.new_page()
    page.goto(demo.dashboard)
    assert page.evaluate(WEBSOCKET, socket_url) == "open"  # this page's own socket: accepted

    response = page.goto(f"http://attacker.example:{port}/")
    assert response.status == 403
    assert "refused: Host 'attacker.example" in page.inner_text("body")
    # a script on the foreign page cannot open the dashboard's socket either
    assert page.evaluate(WEBSOCKET, socket_url) == "refused"
    login = page.goto(demo.login.replace("127.0.0.1", "attacker.example"))
    assert login.status == 403

    # the name given with --allowed-host is served: the page loads, its socket opens, and it
    # draws the plants live
    allowed = f"http://{ALLOWED}:{port}/"
    assert page.goto(allowed).status == 200
    assert page.evaluate(WEBSOCKET, socket_url.replace("127.0.0.1", ALLOWED)) == "open"
    page.wait_for_selector("[data-testid=state-reference-opcua-packing]", timeout=60_000)
    start = poll(lambda: good_parts(page, "reference-opcua"), timeout=30) or 0
    assert poll(lambda: (good_parts(page, "reference-opcua") or 0) > start, timeout=60)
    assert "also served as: factory.example" in "\n".join(demo.lines)
