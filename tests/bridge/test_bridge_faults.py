"""Faults an operator meets, with a real OPC UA server (the in-test Machinery server), a real
Mosquitto and VictoriaMetrics, asserting what a consumer of the unified namespace sees: nothing
lost silently, no value renumbered, retained topics restored, one clear log line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mqtt_bridge.app import Bridge
from mqtt_bridge.config import BridgeConfig, load
from mqtt_bridge.journal import Journal
from mqtt_bridge.outputs.mqtt.settings import MqttSettings
from mqtt_bridge.outputs.mqtt.sink import MqttSink
from mqtt_bridge.outputs.timeseries.settings import InfluxSettings
from mqtt_bridge.outputs.timeseries.sink import TimeSeriesSink
from mqtt_bridge.sample import MachinePath, Sample
from tests.bridge.bridges import SteadyWriter, running, stop_bridge
from tests.bridge.machinery_server import MachineryServer, free_port
from tests.services import MqttRecorder, Received, condition_name

PRESS = "factory/Plant/Bending/Line1/Press1"
TEMPERATURE = f"{PRESS}/Monitoring/Temperature"  # historized by the server
SPINDLE = f"{PRESS}/Monitoring/SpindleSpeed"  # not historized
ALARMS = f"{PRESS}/alarms"
MACHINE = MachinePath("acme", "plant1", "forming", "line1", "press1", "PressBrakeType")


def documents(messages: list[Received], topic: str) -> dict[int, dict]:
    """seq -> payload of one topic; at least once may repeat a seq, never with another payload."""
    out: dict[int, dict] = {}
    for message in messages:
        if message.topic == topic:
            document = message.json()
            assert out.setdefault(document["seq"], document) == document, "a seq was reused"
    return out


def in_order(messages: list[Received], topic: str) -> list[dict]:
    """The payloads of a topic in seq order, after checking that no seq is missing."""
    by_seq = documents(messages, topic)
    assert sorted(by_seq) == list(range(1, len(by_seq) + 1)), f"{topic}: a seq is missing"
    return [by_seq[seq] for seq in sorted(by_seq)]


def values(messages: list[Received], topic: str) -> list[object]:
    return [d.get("value") for d in documents(messages, topic).values()]


def bridge_config(server: MachineryServer, mosquitto, state: Path, **more: object) -> BridgeConfig:
    """`section__key=value`: a further setting (`__key` for a top-level one)."""
    options = {("opcua", "url"): server.url, ("mqtt", "url"): mosquitto.url,
               ("opcua", "publishing_interval"): 50.0, ("", "state_dir"): str(state)}
    options.update({tuple(key.split("__")): value for key, value in more.items()})
    return load(options, env={})


async def settle(recorder: MqttRecorder, done, timeout: float = 30.0) -> list[Received]:
    return await asyncio.to_thread(recorder.wait_until, done, timeout)


async def test_changes_the_server_cannot_give_back_become_a_gap_record(
    fresh_server: MachineryServer, mosquitto, victoria_metrics, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = MqttRecorder(mosquitto, "factory/#")
    config = bridge_config(fresh_server, mosquitto, tmp_path / "state",
                           influx__url=victoria_metrics.url)
    try:
        async with running(config):
            await settle(recorder, lambda m: values(m, SPINDLE) and values(m, TEMPERATURE))
        # The bridge is down: the server changes both; only the temperature is historized.
        spindle = [float(v) for v in range(100, 110)]
        temperature = [float(v) for v in range(30, 40)]
        await asyncio.to_thread(fresh_server.set_values, [
            ("Press1", name, value) for pair in zip(spindle, temperature, strict=True)
            for name, value in zip(("SpindleSpeed", "Temperature"), pair, strict=True)])
        await asyncio.sleep(0.1)  # the server's historian samples every 10 ms
        with caplog.at_level(logging.WARNING):
            async with running(config) as bridge:
                messages = await settle(recorder, lambda m: 109.0 in values(m, SPINDLE)
                                        and 39.0 in values(m, TEMPERATURE))
                stats = bridge.stats()["opcua"]
    finally:
        recorder.close()
    first, gap, last = in_order(messages, SPINDLE)
    assert (first["value"], last["value"]) == (0.0, 109.0)  # 100.0 to 108.0 are lost ...
    # ... and the consumer is told, in the sequence: from when to when, and why.
    assert gap["gap"]["from"] == first["sourceTimestamp"]
    assert gap["gap"]["to"] == last["sourceTimestamp"]
    assert "keeps no history" in gap["gap"]["reason"]
    assert [d["value"] for d in in_order(messages, TEMPERATURE)] == [20.0, *temperature]
    assert stats["gaps"] == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("lost changes" in w and SPINDLE in w for w in warnings), warnings
    # The time series carries the gap too, as the variable's `_gap` field (its length in s).
    series = victoria_metrics.wait_for_samples(
        '{__name__="monitoring_SpindleSpeed_gap",cell="Press1"}', 1)
    assert [v for s in series for v in s["values"]] and all(
        v > 0 for s in series for v in s["values"])


def start_bridge(server: MachineryServer, mosquitto, state: Path, log: Path,
                 *more: str) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "factory_cli.main", "bridge", "--opcua", server.url,
             "--mqtt", mosquitto.url, "--state-dir", str(state), "--publishing-interval", "50",
             *more],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def test_a_bridge_killed_mid_flow_never_renumbers_a_value(
    fresh_server: MachineryServer, mosquitto, tmp_path: Path
) -> None:
    recorder = MqttRecorder(mosquitto, "factory/#")
    state, log = tmp_path / "state", tmp_path / "bridge.log"
    bridge = start_bridge(fresh_server, mosquitto, state, log)
    writer = SteadyWriter(fresh_server)  # 50 changes a second of both variables
    try:
        recorder.wait_until(lambda m: values(m, TEMPERATURE))
        writer.start()
        for _kill in range(3):  # values delivered and journaled shortly before each kill
            time.sleep(1.5)
            bridge.send_signal(signal.SIGKILL)
            bridge.wait(10)
            time.sleep(0.5)
            bridge = start_bridge(fresh_server, mosquitto, state, log)
        time.sleep(1.5)
        writer.finish()
        messages = recorder.wait_until(
            lambda m: -1.0 in values(m, TEMPERATURE) and -1.0 in values(m, SPINDLE), timeout=60)
    finally:
        writer.stop()
        stop_bridge(bridge)
        recorder.close()
    for topic in (TEMPERATURE, SPINDLE):
        seen: dict[tuple, int] = {}
        for document in in_order(messages, topic):
            if "gap" in document:
                continue
            change = (document["value"], document["sourceTimestamp"])
            # a value delivered again keeps its number: a consumer drops it by seq
            assert seen.setdefault(change, document["seq"]) == document["seq"], (
                topic, change, [(d["seq"], d.get("value"), d.get("sourceTimestamp"))
                                for d in in_order(messages, topic)
                                if abs(d["seq"] - document["seq"]) < 6],
                log.read_text()[-4000:])
    # the historized variable lost nothing: every value written reached the consumer
    written = [d["value"] for d in in_order(messages, TEMPERATURE) if "gap" not in d]
    assert written == sorted(written, key=lambda v: (v == -1.0, v))
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def counter(i: int) -> Sample:
    now = datetime.now(UTC)
    return Sample(MACHINE, "counters", "Parts", i, now, now, "Good")


def logged(caplog: pytest.LogCaptureFixture, level: int, *words: str) -> bool:
    return any(r.levelno == level and all(w in r.getMessage() for w in words)
               for r in caplog.records)


async def until(condition, timeout: float = 30.0) -> None:
    """Wait until `condition()` holds; fail the test, naming it, if not within `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not met within {timeout:g} s: {condition_name(condition)}")
        await asyncio.sleep(0.05)


async def test_outages_and_drops_are_a_warning_when_they_start_and_info_when_they_end(
    tmp_path: Path, mosquitto, victoria_metrics, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    mqtt_url, series_url = mosquitto.url, victoria_metrics.url
    with Journal(tmp_path / "j", max_items=50) as journal:
        mqtt = MqttSink(journal, MqttSettings(url=mqtt_url, reconnect_min_delay=0.1,
                                              reconnect_max_delay=0.5))
        series = TimeSeriesSink(journal, InfluxSettings(url=series_url, retry_min_delay=0.1,
                                                        retry_max_delay=0.5))
        async with mqtt, series:
            journal.append([counter(i) for i in range(10)])
            assert await mqtt.flush(10) and await series.flush(10)
            assert not logged(caplog, logging.WARNING, "unavailable")
            await asyncio.to_thread(mosquitto.stop)
            await asyncio.to_thread(victoria_metrics.stop)
            journal.append([counter(i) for i in range(10, 110)])  # 50 over the bound
            await until(lambda: logged(caplog, logging.WARNING, mqtt_url, "unavailable")
                        and logged(caplog, logging.WARNING, series_url, "unavailable"))
            await asyncio.to_thread(mosquitto.start)
            await asyncio.to_thread(victoria_metrics.start)
            assert await mqtt.flush(30) and await series.flush(30)
            journal.append([counter(110)])  # room again: the drops are over
            assert await mqtt.flush(10)
    for peer in (mqtt_url, series_url):
        assert logged(caplog, logging.WARNING, peer, "unavailable", "waiting for it")
        assert logged(caplog, logging.INFO, peer, "available again after", "50 entries")
    assert logged(caplog, logging.WARNING, "is full (max_items 50)", "dropping")
    assert logged(caplog, logging.INFO, "below its bound again", "50 undelivered rows")
    # one warning per outage, not one per retry
    assert sum(1 for r in caplog.records if r.levelno == logging.WARNING
               and f"{mqtt_url} is unavailable" in r.getMessage()) == 1


def test_an_unreachable_broker_and_database_at_start_up_are_named_once(
    machinery_server: MachineryServer, tmp_path: Path
) -> None:
    mqtt_url = f"mqtt://127.0.0.1:{free_port()}"
    series_url = f"http://127.0.0.1:{free_port()}"
    log = tmp_path / "bridge.log"
    with open(log, "ab") as out:
        bridge = subprocess.Popen(
            [sys.executable, "-m", "factory_cli.main", "bridge", "--opcua", machinery_server.url,
             "--mqtt", mqtt_url, "--influx", series_url, "--state-dir", str(tmp_path / "s")],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
            f"MQTT broker {mqtt_url} is unavailable" in log.read_text()
            and f"time series {series_url} is unavailable" in log.read_text()
        ):
            time.sleep(0.1)
        time.sleep(2)  # retries go on meanwhile, silently
    finally:
        stop_bridge(bridge)
    text = log.read_text()
    assert text.count(f"MQTT broker {mqtt_url} is unavailable") == 1, text
    assert text.count(f"time series {series_url} is unavailable") == 1, text
    assert "waiting for it" in text and bridge.returncode == 0, text


@pytest.mark.parametrize("option", ["--opcua", "--mqtt", "--influx"])
@pytest.mark.parametrize("where", ["command line", "environment"])
def test_a_malformed_ipv6_url_is_one_line(tmp_path: Path, option: str, where: str) -> None:
    scheme = {"--opcua": "opc.tcp", "--mqtt": "mqtt", "--influx": "http"}[option]
    bad = f"{scheme}://[::1"
    args = {"--opcua": "opc.tcp://127.0.0.1:4840", "--mqtt": "mqtt://127.0.0.1:1883",
            "--influx": "http://127.0.0.1:8428"}
    env = dict(os.environ)
    if where == "command line":
        args[option] = bad
    else:
        del args[option]
        env[f"FACTORY_SIM_BRIDGE_{option[2:].upper()}_URL"] = bad
    command = [sys.executable, "-m", "factory_cli.main", "bridge", "--state-dir",
               str(tmp_path), *[part for pair in args.items() for part in pair]]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "[::1" in lines[0] and "Traceback" not in result.stderr, lines


def retained_now(mosquitto) -> dict[str, dict]:
    """What a consumer subscribing now gets: the retained payload per topic."""
    late = MqttRecorder(mosquitto, "factory/#")
    try:
        return {m.topic: m.json() for m in late.settle("factory/_test/marker")}
    finally:
        late.close()


async def test_retained_values_a_fresh_broker_lost_are_published_again(
    machinery_server: MachineryServer, mosquitto, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = bridge_config(machinery_server, mosquitto, tmp_path / "state",
                           mqtt__reconnect_max_delay=0.5)
    caplog.set_level(logging.INFO)
    async with running(config) as bridge:
        sink = bridge.sinks[0]
        await until(lambda: sink.stats()["pending"] == 0 and sink.stats()["confirmed"] > 20)
        before = await asyncio.to_thread(retained_now, mosquitto)
        assert len(before) > 20
        # A broker without persistence restarts: every retained value is gone ...
        await asyncio.to_thread(mosquitto.stop)
        await asyncio.to_thread(mosquitto.start)
        await until(lambda: sink.stats()["restored"] >= len(before))
        # ... and the bridge has published the last value of each again, as it was.
        assert await asyncio.to_thread(retained_now, mosquitto) == before
    # The same across a bridge restart: what the broker confirmed is kept in the journal.
    await asyncio.to_thread(mosquitto.stop)
    await asyncio.to_thread(mosquitto.start)
    async with running(config) as bridge:
        await until(lambda: bridge.sinks[0].stats()["restored"] >= len(before))
        await until(lambda: bridge.sinks[0].stats()["pending"] == 0)
        after = await asyncio.to_thread(retained_now, mosquitto)
    assert {topic: after[topic] for topic in before} == before
    assert logged(caplog, logging.WARNING, "has lost its retained values")


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 4 MB file system of its own (tmpfs) for the bridge's state directory."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(directory: Path) -> Path:
    """Take all free space of the file system `directory` is on."""
    filler = directory / "filler"
    with open(filler, "wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_is_a_loud_error_and_delivery_resumes_when_space_returns(
    fresh_server: MachineryServer, mosquitto, small_disk: Path, tmp_path: Path
) -> None:
    recorder = MqttRecorder(mosquitto, "factory/#")
    log = tmp_path / "bridge.log"
    bridge = start_bridge(fresh_server, mosquitto, small_disk / "state", log)
    try:
        recorder.wait_until(lambda m: values(m, TEMPERATURE))
        filler = fill(small_disk)
        written = [float(v) for v in range(1000, 3000)]
        for start in range(0, len(written), 200):
            fresh_server.set_values([("Press1", "Temperature", v)
                                     for v in written[start:start + 200]])
        deadline = time.monotonic() + 30
        while "cannot write" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "ERROR" in log.read_text() and "cannot write" in log.read_text(), log.read_text()
        filler.unlink()  # space returns
        messages = recorder.wait_until(lambda m: written[-1] in values(m, TEMPERATURE),
                                       timeout=60)
    finally:
        stop_bridge(bridge)
        recorder.close()
    text = log.read_text()
    assert bridge.returncode == 0 and "Traceback" not in text, text[-3000:]
    assert "writing works again" in text
    delivered = [d["value"] for d in in_order(messages, TEMPERATURE)]
    assert delivered == [20.0, *written]  # nothing lost, in order, numbered without a gap


async def test_a_server_restart_is_marked_on_the_status_topic(
    fresh_server: MachineryServer, mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    status = MqttRecorder(mosquitto, "_bridge/#")
    config = bridge_config(fresh_server, mosquitto, tmp_path / "state",
                           opcua__reconnect_max_delay=1.0)

    def sources(messages: list[Received]) -> list[dict]:
        return [m.json()["source"] for m in messages if "source" in m.json()]

    try:
        async with running(config) as bridge:
            await settle(status, lambda m: sources(m))
            await asyncio.to_thread(fresh_server.restart, 1.0)
            messages = await settle(status, lambda m: any(s["serverRestarts"] == 1
                                                          for s in sources(m)))
            assert bridge.stats()["opcua"]["server_restarts"] == 1
    finally:
        status.close()
    before, after = sources(messages)[0], sources(messages)[-1]
    assert before["url"] == after["url"] == fresh_server.url
    assert (before["serverRestarts"], after["serverRestarts"]) == (0, 1)
    assert after["serverStartTime"] > before["serverStartTime"]  # RFC 3339 UTC sorts by time
    assert logged(caplog, logging.WARNING, "restarted")


async def restart_without_history(server: MachineryServer, successor: MachineryServer,
                                  mosquitto, tmp_path: Path) -> list[Received]:
    """A bridge publishes the server's Temperature; five changes historized and not yet
    published, the server stops and `successor` (the same endpoint, no history of before)
    takes its place and sets Temperature to 200. What a consumer received until it sees 200."""
    recorder = MqttRecorder(mosquitto, "factory/#")
    config = bridge_config(server, mosquitto, tmp_path / "state",
                           opcua__publishing_interval=2000.0, opcua__reconnect_max_delay=1.0)
    try:
        async with running(config):
            await settle(recorder, lambda m: values(m, TEMPERATURE))
            # changed and historized, not yet published: a restart without history loses them
            await asyncio.to_thread(server.set_values,
                                    [("Press1", "Temperature", float(v)) for v in range(100, 105)])
            await asyncio.sleep(0.1)
            await asyncio.to_thread(server.stop)
            await asyncio.to_thread(successor.start)
            await asyncio.to_thread(successor.set_value, "Press1", "Temperature", 200.0)
            return await settle(recorder, lambda m: 200.0 in values(m, TEMPERATURE), 60)
    finally:
        recorder.close()
        successor.stop()


async def test_what_a_server_forgot_in_a_restart_is_a_gap_record(
    fresh_server: MachineryServer, mosquitto, tmp_path: Path
) -> None:
    successor = MachineryServer(fresh_server.port)  # the same endpoint, no history of before
    messages = await restart_without_history(fresh_server, successor, mosquitto, tmp_path)
    documents = in_order(messages, TEMPERATURE)
    assert [d.get("value") for d in documents][-1] == 200.0
    gaps = [d for d in documents if "gap" in d]
    assert len(gaps) == 1 and "restarted" in gaps[0]["gap"]["reason"]
    before = documents[: documents.index(gaps[0])]
    after = documents[documents.index(gaps[0]) + 1:]
    assert gaps[0]["gap"]["from"] == before[-1]["sourceTimestamp"]
    assert gaps[0]["gap"]["to"] == after[0]["sourceTimestamp"]
    assert 200.0 in [d["value"] for d in after] and 104.0 not in [d["value"] for d in after]


@contextlib.asynccontextmanager
async def bound_journal_broker_down(server: MachineryServer, broker, tmp_path: Path
                                    ) -> AsyncIterator[tuple[Bridge, MqttRecorder]]:
    """A bridge with a journal bound of 200 rows, settled on Temperature and SpindleSpeed with
    nothing pending, then the broker stopped; with a recorder that keeps its queue across."""
    recorder = MqttRecorder(broker, "factory/#", session=True)
    config = bridge_config(server, broker, tmp_path / "state",
                           mqtt__reconnect_max_delay=0.5, **{"__journal_max_items": 200})
    try:
        async with running(config) as bridge:
            sink = bridge.sinks[0]
            await settle(recorder, lambda m: values(m, TEMPERATURE) and values(m, SPINDLE))
            await until(lambda: sink.stats()["pending"] == 0)
            await asyncio.to_thread(broker.stop)
            yield bridge, recorder
    finally:
        recorder.close()


async def test_values_dropped_at_the_journal_bound_come_back_from_history_else_a_gap(
    fresh_server: MachineryServer, mosquitto_persistent, tmp_path: Path
) -> None:
    """The broker is down and the journal's bound (200 rows) is reached: its oldest rows are
    dropped. Once it has room again, a consumer gets the dropped values of the historized
    Temperature back from the server's history (late, with new numbers), a gap record for
    those older than the server's retention, and a gap record for the not historized
    SpindleSpeed, naming the sequence numbers missing; alarms raised then and dropped too are
    named by a gap record in the machine's alarm sequence."""
    broker = mosquitto_persistent
    spindle = [float(v) for v in range(1000, 1300)]
    temperature = [float(v) for v in range(501, 801)]
    async with bound_journal_broker_down(fresh_server, broker, tmp_path) as (bridge, recorder):
        sink = bridge.sinks[0]
        appended = bridge.journal.stats()["appended"]
        for i in range(12):  # the oldest rows: dropped first
            await asyncio.to_thread(fresh_server.fire_alarm, "Press1", f"alarm {i}", 500)
        await until(lambda: bridge.journal.stats()["appended"] >= appended + 12)
        stamps = await asyncio.to_thread(fresh_server.set_values, [
            ("Press1", name, value) for pair in zip(spindle, temperature, strict=True)
            for name, value in zip(("SpindleSpeed", "Temperature"), pair, strict=True)])
        await until(lambda: bridge.journal.stats()["dropped"] >= 400)
        # the server's retention has let go of the first 50 temperatures meanwhile
        await asyncio.to_thread(fresh_server.expire_history, "Press1", "Temperature",
                                stamps[2 * 50 + 1])
        # the newest value, journaled while the broker is still down: it is delivered
        # before the drop episode can end and what was dropped is read back (the end
        # comes with the first append or look once the broker made room, whichever is
        # first: a value written after the broker is back could come before or after)
        await asyncio.to_thread(fresh_server.set_value, "Press1", "Temperature", 999.0)
        await until(lambda: bridge.source.last_seen.values.get(TEMPERATURE) == 999.0)
        await asyncio.to_thread(broker.start)
        await until(lambda: sink.stats()["pending"] == 0)
        messages = await settle(recorder, lambda m: {999.0, *temperature[50:]}
                                <= set(values(m, TEMPERATURE))
                                and any("gap" in d for d in documents(m, SPINDLE).values())
                                and any("gap" in d for d in documents(m, ALARMS).values()),
                                60)
        stats = bridge.stats()["opcua"]
        retained = await asyncio.to_thread(retained_now, broker)
    # Temperature: every value history still holds arrives exactly once; a gap names the rest.
    by_seq = documents(messages, TEMPERATURE)
    seq_of = {d.get("value"): s for s, d in by_seq.items()}
    delivered = [d["value"] for d in by_seq.values() if "gap" not in d]
    assert sorted(v for v in delivered if v in temperature) == temperature[50:]
    assert len(delivered) == len(set(delivered))  # nothing twice
    (expired,) = [(s, d) for s, d in by_seq.items() if "gap" in d]
    assert "no longer holds" in expired[1]["gap"]["reason"]
    # then the values given back, late: numbered after what was delivered meanwhile, oldest
    # first, from the first one the server still holds
    late = [by_seq[s]["value"] for s in sorted(by_seq) if s > expired[0]]
    assert expired[0] > seq_of[temperature[-1]] and late == temperature[50:50 + len(late)]
    assert expired[1]["gap"]["to"] == by_seq[seq_of[temperature[50]]]["sourceTimestamp"]
    # SpindleSpeed: no history, so one gap naming exactly the sequence numbers missing
    by_seq = documents(messages, SPINDLE)
    (gap,) = [d for d in by_seq.values() if "gap" in d]
    missing = sorted(set(range(1, max(by_seq) + 1)) - set(by_seq))
    assert missing == list(range(missing[0], missing[-1] + 1))  # one run: the oldest
    assert f"{len(missing)} values (seq {missing[0]} to {missing[-1]})" in gap["gap"]["reason"]
    assert "keeps no history" in gap["gap"]["reason"]
    # alarms: not read again; one gap record names the numbers dropped
    by_seq = documents(messages, ALARMS)
    (gap,) = [d for d in by_seq.values() if "gap" in d]
    missing = sorted(set(range(1, max(by_seq) + 1)) - set(by_seq))
    assert len(missing) == 12 and missing == list(range(missing[0], missing[0] + 12))
    assert f"12 events (seq {missing[0]} to {missing[-1]})" in gap["gap"]["reason"]
    assert stats["gaps"] == 3 and stats["backfilled"] == len(late)
    # a value given back late is not retained as the variable's value
    assert retained[TEMPERATURE]["value"] == 999.0


def test_values_dropped_at_the_journal_bound_before_a_sigkill_come_back_after_it(
    fresh_server: MachineryServer, mosquitto_persistent, tmp_path: Path
) -> None:
    """The broker is down, the journal's bound (200 rows) drops the oldest values, and the
    bridge is killed before the drop could be reported. The journal kept its report of the
    drop with the drop: the next bridge reads the historized Temperature's dropped values
    from history (late) and names the SpindleSpeed's in a gap record."""
    broker = mosquitto_persistent
    recorder = MqttRecorder(broker, "factory/#", session=True)
    state, log = tmp_path / "state", tmp_path / "bridge.log"
    config = tmp_path / "bridge.toml"
    config.write_text("journal_max_items = 200\n")
    bridge = start_bridge(fresh_server, broker, state, log, "--config", str(config))
    spindle = [float(v) for v in range(2000, 2300)]
    temperature = [float(v) for v in range(601, 901)]
    try:
        recorder.wait_until(lambda m: values(m, TEMPERATURE) and values(m, SPINDLE))
        time.sleep(1)  # the first values are confirmed: nothing else is pending
        broker.stop()
        fresh_server.set_values([
            ("Press1", name, value) for pair in zip(spindle, temperature, strict=True)
            for name, value in zip(("SpindleSpeed", "Temperature"), pair, strict=True)])
        deadline = time.monotonic() + 30
        while "is full" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)  # all notifications journaled and committed (every 50 ms)
        bridge.send_signal(signal.SIGKILL)
        bridge.wait(10)
        broker.start()
        bridge = start_bridge(fresh_server, broker, state, log, "--config", str(config))
        messages = recorder.wait_until(
            lambda m: set(temperature) <= set(values(m, TEMPERATURE))
            and any("gap" in d for d in documents(m, SPINDLE).values()), timeout=60)
    finally:
        stop_bridge(bridge)
        recorder.close()
    text = log.read_text()
    assert "is full" in text and "Traceback" not in text, text[-3000:]
    by_seq = documents(messages, TEMPERATURE)
    delivered = [d["value"] for d in by_seq.values() if "gap" not in d]
    assert sorted(v for v in delivered if v in temperature) == temperature  # each once
    assert not any("gap" in d for d in by_seq.values())
    missing = sorted(set(range(1, max(by_seq) + 1)) - set(by_seq))
    assert missing  # dropped: their numbers stay missing, the values came back late
    by_seq = documents(messages, SPINDLE)
    (gap,) = [d for d in by_seq.values() if "gap" in d]
    missing = sorted(set(range(1, max(by_seq) + 1)) - set(by_seq))
    assert missing == list(range(missing[0], missing[-1] + 1))  # one run: the oldest
    assert f"{len(missing)} values (seq {missing[0]} to {missing[-1]})" in gap["gap"]["reason"]
