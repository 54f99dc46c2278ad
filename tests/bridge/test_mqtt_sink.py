"""The MQTT sink against a real Mosquitto: topics, payloads, retained values, birth and last will,
broker outages."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from mqtt_bridge.journal import Journal
from mqtt_bridge.outputs.mqtt import payload
from mqtt_bridge.outputs.mqtt.settings import MqttSettings
from mqtt_bridge.outputs.mqtt.sink import MqttSink
from mqtt_bridge.outputs.timeseries.sink import TimeSeriesSink
from mqtt_bridge.sample import EventSample, Gap, MachinePath, Sample
from mqtt_bridge.settings import SettingsError
from tests.services import (
    MOSQUITTO,
    Mosquitto,
    MqttRecorder,
    Received,
    make_test_pki,
    require_binary,
    running,
)

PRESS = MachinePath("acme", "plant1", "forming", "line1", "press1", "PressBrakeType")
LASER = MachinePath("acme", "plant1", "cutting", "line1", "laser1", "PunchLaserType")
T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
BROKER_DOWN = 10.0  # seconds, issue 4's figure
DATABASE_DOWN = 30.0  # seconds, issue 4's figure
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def updates(messages: Iterable[Received]) -> Iterable[tuple[str, dict]]:
    """(topic, document) of every update, whether it came alone on its own topic (tag mode) or
    inside a machine's batch on `.../values` (machine mode)."""
    for message in messages:
        document = message.json()
        if message.topic.endswith("/" + payload.BATCH_LEVEL) and "updates" in document:
            for update in document["updates"]:
                yield update["topic"], update
        else:
            yield message.topic, document


def seqs_in_order(messages: Iterable[Received]) -> dict[str, list[int]]:
    """Per topic, the sequence numbers in arrival order without duplicates, asserting that every
    new number is exactly one more than the highest so far: nothing lost, nothing reordered.
    (A number at or below the highest is a redelivery, which at-least-once allows.)"""
    seen: dict[str, list[int]] = {}
    for topic, document in updates(messages):
        seq = document["seq"]
        numbers = seen.setdefault(topic, [])
        highest = numbers[-1] if numbers else 0
        if seq > highest:
            assert seq == highest + 1, f"{topic}: {seq} after {highest}"
            numbers.append(seq)
    return seen


def validator():
    import jsonschema  # test dependency

    schema = payload.schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_a_gap_in_a_machines_events_is_a_valid_record_on_its_events_topic() -> None:
    for group in ("events", "alarms"):
        gap = Gap(PRESS, group, "", T0, None, "no event history")
        assert payload.topic(gap, "uns/") == f"uns/acme/plant1/forming/line1/press1/{group}"
        document = json.loads(payload.encode(gap, 4))
        validator().validate(document)
        assert document["gap"] == {"from": "2026-11-23T06:00:00.000000Z", "to": None,
                                   "reason": "no event history"} and document["seq"] == 4


async def test_samples_and_events_reach_subscribers_in_order_with_valid_payloads(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    live = MqttRecorder(mosquitto, "uns/#")
    settings = MqttSettings(url=mosquitto.url, topic_prefix="uns/", client_id="bridge-a")
    parts = [
        Sample(PRESS, "counters", "Parts", i, T0 + timedelta(seconds=i), T0, "Good", "ns=4;i=7")
        for i in range(50)
    ]
    odd = [
        Sample(LASER, "energy", "Power", math.nan, T0, None, "BadSensorFailure"),
        Gap(LASER, "energy", "Power", T0, None, "no history", "ns=4;i=8"),
        Sample(LASER, "energy", "Power", 1.25, None, None, "Good"),
        Sample(LASER, "monitoring", "Temp+#", [20.5, None], T0, T0, "Good"),
    ]
    alarms = [
        EventSample(PRESS, "AlarmConditionType", T0, 800, "Oil pressure low",
                    {"ActiveState": True, "ConditionId": "ns=4;i=90"}),
        EventSample(PRESS, "AlarmConditionType", T0, 800, "Oil pressure low",
                    {"ActiveState": False, "ConditionId": "ns=4;i=90"}),
    ]
    event = EventSample(LASER, "BaseEventType", T0, 100, "Program loaded", {})
    try:
        with Journal(tmp_path / "j") as journal:
            async with MqttSink(journal, settings) as sink:
                journal.append(parts[:20] + odd + alarms)
                journal.append([*parts[20:], event])
                assert await sink.flush(timeout=30)
                stats = sink.stats()
                late = MqttRecorder(mosquitto, "#")
                retained = late.settle()
                late.close()
            expected = len(parts) + len(odd) + len(alarms) + 1
            messages = live.wait_until(lambda m: len(m) >= expected + 2)  # + online, offline
    finally:
        live.close()

    assert stats["confirmed"] == expected and stats["pending"] == 0 and stats["connected"]
    check = validator()
    for message in messages:
        check.validate(message.json())  # raises with the offending path on any mismatch
    by_topic = seqs_in_order(m for m in messages if not m.topic.startswith("uns/_bridge"))
    press = "uns/acme/plant1/forming/line1/press1"
    laser = "uns/acme/plant1/cutting/line1/laser1"
    assert by_topic == {
        f"{press}/counters/Parts": list(range(1, 51)),
        f"{laser}/energy/Power": [1, 2, 3],  # a gap record has its place in the sequence
        f"{laser}/monitoring/Temp__": [1],  # MQTT wildcards cannot be in a topic name
        f"{press}/alarms": [1, 2],
        f"{laser}/events": [1],
    }
    values = [m.json() for m in messages if m.topic == f"{press}/counters/Parts"]
    assert [v["value"] for v in values] == list(range(50))
    assert values[3] == {
        "value": 3, "sourceTimestamp": "2026-11-23T06:00:03.000000Z",
        "serverTimestamp": "2026-11-23T06:00:00.000000Z", "status": "Good", "seq": 4,
        "cellType": "PressBrakeType", "nodeId": "ns=4;i=7",
    }
    power = [m.json() for m in messages if m.topic == f"{laser}/energy/Power"]
    assert power[0]["value"] == "NaN" and power[0]["status"] == "BadSensorFailure"
    assert power[1] == {"gap": {"from": "2026-11-23T06:00:00.000000Z", "to": None,
                                "reason": "no history"},
                        "seq": 2, "cellType": "PunchLaserType", "nodeId": "ns=4;i=8"}
    assert power[2]["sourceTimestamp"] is None
    alarm = next(m.json() for m in messages if m.topic == f"{press}/alarms")
    assert alarm["fields"] == {"ActiveState": True, "ConditionId": "ns=4;i=90"}
    assert alarm["severity"] == 800 and alarm["eventType"] == "AlarmConditionType"

    # A late subscriber gets the last value of every variable (retained), no old events, and
    # the bridge's retained birth message.
    last = {m.topic: m for m in retained}
    assert all(m.retain for m in retained)
    assert last[f"{press}/counters/Parts"].json()["value"] == 49
    assert last[f"{laser}/energy/Power"].json()["value"] == 1.25  # a gap is not retained
    assert f"{press}/alarms" not in last and f"{laser}/events" not in last
    assert last["uns/_bridge/bridge-a/status"].json()["status"] == "online"
    status = [m.json()["status"] for m in messages if m.topic == "uns/_bridge/bridge-a/status"]
    assert status == ["online", "offline"]  # birth first, clean goodbye last


async def test_machine_batches_carry_every_update_with_its_own_topic_and_seq(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """Machine mode: a machine's updates (variables, events, alarms) travel together on
    `.../{cell}/updates`, each with the topic and per-topic seq it has in tag mode."""
    live = MqttRecorder(mosquitto, "uns/#")
    settings = MqttSettings(url=mosquitto.url, topic_prefix="uns", client_id="bridge-m",
                            batch="machine", max_inflight=1)  # a small window: big batches
    parts = [Sample(PRESS, "counters", "Parts", i, T0, T0, "Good", "ns=4;i=7")
             for i in range(1200)]  # more than one batch can hold
    strokes = [Sample(PRESS, "counters", "Strokes", i, T0, T0, "Good") for i in range(30)]
    power: list = [Sample(LASER, "energy", "Power", i / 2, T0, None, "Good") for i in range(40)]
    power[20] = Gap(LASER, "energy", "Power", T0, T0, "queue overflow", "")
    alarm = EventSample(PRESS, "AlarmConditionType", T0, 800, "Oil pressure low",
                        {"ActiveState": True})
    try:
        with Journal(tmp_path / "j") as journal:
            async with MqttSink(journal, settings) as sink:
                journal.append([*parts[:600], *power[:20], alarm, *strokes])
                journal.append([*parts[600:], *power[20:]])
                assert await sink.flush(timeout=30)
                stats = sink.stats()
                late = MqttRecorder(mosquitto, "uns/#")
                retained = late.settle()
                late.close()
            messages = live.wait_until(
                lambda m: sum(1 for _ in updates(m)) >= len(parts) + len(strokes) + len(power)
                + 1 + 2)  # + the alarm, online, offline
    finally:
        live.close()

    press, laser = "uns/acme/plant1/forming/line1/press1", "uns/acme/plant1/cutting/line1/laser1"
    data = [m for m in messages if not m.topic.startswith("uns/_bridge")]
    assert {m.topic for m in data} == {f"{press}/updates", f"{laser}/updates"}
    assert stats["confirmed"] == len(parts) + len(strokes) + len(power) + 1
    assert stats["published"] < stats["confirmed"] / 10  # batched: far fewer messages
    check = validator()
    for message in data:
        check.validate(message.json())
        assert not message.retain
        assert 1 <= len(message.json()["updates"]) <= payload.MAX_BATCH
    assert seqs_in_order(data) == {
        f"{press}/counters/Parts": list(range(1, 1201)),
        f"{press}/counters/Strokes": list(range(1, 31)),
        f"{laser}/energy/Power": list(range(1, 41)),
        f"{press}/alarms": [1],
    }
    alarm_update = next(u for t, u in updates(data) if t == f"{press}/alarms")
    assert alarm_update["eventType"] == "AlarmConditionType" and alarm_update["seq"] == 1
    values = [u for t, u in updates(data) if t == f"{press}/counters/Parts"]
    assert [u["value"] for u in values] == list(range(1200))
    assert values[3] == {
        "topic": f"{press}/counters/Parts", "value": 3,
        "sourceTimestamp": "2026-11-23T06:00:00.000000Z",
        "serverTimestamp": "2026-11-23T06:00:00.000000Z", "status": "Good", "seq": 4,
        "cellType": "PressBrakeType", "nodeId": "ns=4;i=7",
    }
    # nothing but the bridge's status is retained in machine mode
    assert [m.topic for m in retained] == ["uns/_bridge/bridge-m/status"]


_DOOMED_BRIDGE = textwrap.dedent(
    """
    import asyncio, sys
    from mqtt_bridge.journal import Journal
    from mqtt_bridge.outputs.mqtt.settings import MqttSettings
    from mqtt_bridge.outputs.mqtt.sink import MqttSink

    async def main():
        settings = MqttSettings(url=sys.argv[2], client_id="doomed")
        async with MqttSink(Journal(sys.argv[1]), settings) as sink:
            while not sink.connected:
                await asyncio.sleep(0.02)
            print("connected", flush=True)
            await asyncio.sleep(600)  # until killed

    asyncio.run(main())
    """
)


def test_the_broker_publishes_the_last_will_when_the_bridge_dies(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    topic = "_bridge/doomed/status"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    recorder = MqttRecorder(mosquitto, topic)
    try:
        with subprocess.Popen(
            [sys.executable, "-c", _DOOMED_BRIDGE, str(tmp_path / "j"), mosquitto.url],
            stdout=subprocess.PIPE, text=True, env=env,
        ) as bridge:
            assert bridge.stdout.readline().strip() == "connected"
            recorder.wait_until(lambda m: len(m) >= 1)
            bridge.send_signal(signal.SIGKILL)
            bridge.wait()
        messages = recorder.wait_until(lambda m: len(m) >= 2)
    finally:
        recorder.close()
    assert [m.json()["status"] for m in messages] == ["online", "offline"]
    will = messages[1].json()
    assert will == {"status": "offline", "bridgeId": "doomed"}  # the will carries no time
    late = MqttRecorder(mosquitto, topic)
    try:
        retained = late.wait_until(lambda m: len(m) >= 1, timeout=10)
    finally:
        late.close()
    assert retained[0].retain and retained[0].json()["status"] == "offline"


async def test_a_broker_that_is_down_at_start_gets_the_backlog_when_it_comes_up(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    require_binary(MOSQUITTO)
    broker = Mosquitto(tmp_path_factory.mktemp("late-broker"))
    settings = MqttSettings(url=broker.url, reconnect_min_delay=0.1, reconnect_max_delay=0.5)
    with Journal(tmp_path / "j") as journal:
        async with MqttSink(journal, settings) as sink:
            journal.append(Sample(PRESS, "counters", "Parts", i, T0, T0, "Good") for i in range(30))
            assert not await sink.flush(timeout=0.5)
            assert not sink.connected
            assert broker.url in sink.last_error
            assert sink.stats()["pending"] == 30
            await asyncio.to_thread(broker.start)
            try:
                assert await sink.flush(timeout=30)
                assert sink.stats()["confirmed"] == 30 and sink.last_error is None
                recorder = MqttRecorder(broker, "acme/#")
                try:
                    retained = recorder.wait_until(lambda m: len(m) >= 1)
                finally:
                    recorder.close()
            finally:
                await asyncio.to_thread(broker.stop)
    assert retained[0].retain and retained[0].json()["seq"] == 30
    assert retained[0].json()["value"] == 29


@pytest.mark.parametrize("batch", ["tag", "machine"])
async def test_outages_of_broker_and_database_lose_and_reorder_nothing(
    tmp_path: Path, mosquitto_persistent: Mosquitto, victoria_metrics, batch: str
) -> None:
    """Issue 4's figures: the broker stops for 10 s and the time series for 30 s (at the same
    time, to keep the suite short) while samples keep coming; in both MQTT modes."""
    from mqtt_bridge.outputs.timeseries.settings import InfluxSettings

    broker, database = mosquitto_persistent, victoria_metrics
    recorder = MqttRecorder(broker, "acme/#", session=True)  # its session survives the restart
    tags = ("Parts", "GoodParts", "Strokes")
    appended = {tag: 0 for tag in tags}
    stop = asyncio.Event()

    async def produce(journal: Journal) -> None:
        while not stop.is_set():
            now = datetime.now(UTC)
            batch = []
            for tag in tags:
                appended[tag] += 1
                batch.append(Sample(PRESS, "counters", tag, appended[tag], now, now, "Good"))
            journal.append(batch)
            await asyncio.sleep(0.02)

    mqtt_settings = MqttSettings(url=broker.url, reconnect_min_delay=0.2, reconnect_max_delay=1,
                                 batch=batch)
    influx_settings = InfluxSettings(url=database.url, retry_min_delay=0.2, retry_max_delay=1)
    try:
        with Journal(tmp_path / "j") as journal:
            mqtt = MqttSink(journal, mqtt_settings)
            series = TimeSeriesSink(journal, influx_settings)
            async with mqtt, series:
                producer = asyncio.create_task(produce(journal))
                await asyncio.sleep(1)
                await asyncio.gather(asyncio.to_thread(broker.stop),
                                     asyncio.to_thread(database.stop))
                await asyncio.sleep(BROKER_DOWN)
                await asyncio.to_thread(broker.start)
                await asyncio.sleep(DATABASE_DOWN - BROKER_DOWN)
                buffered_while_down = series.stats()["pending"]
                await asyncio.to_thread(database.start)
                await asyncio.sleep(1)
                stop.set()
                await producer
                assert await mqtt.flush(timeout=60)
                assert await series.flush(timeout=60)
                mqtt_stats, series_stats = mqtt.stats(), series.stats()
            total = sum(appended.values())
            messages = recorder.wait_until(
                lambda m: {t: s[-1] for t, s in seqs_in_order(m).items()}
                == {PRESS.topic("counters", t): n for t, n in appended.items()}
            )
            journal.commit()  # acks are written with the next commit, within 50 ms
            assert journal.stats() == {"buffered": 0, "dropped": 0, "appended": total,
                                       "unwritten": 0}
    finally:
        recorder.close()

    assert mqtt_stats["connects"] >= 2 and series_stats["failures"] >= 1
    assert buffered_while_down > 100  # the outage really held data back
    # MQTT: every topic got 1..N in order (redeliveries allowed, gaps and reordering not).
    assert seqs_in_order(messages) == {
        PRESS.topic("counters", tag): list(range(1, n + 1)) for tag, n in appended.items()
    }
    # Time series: every sample is there once the database is back.
    series_data = database.wait_for_samples('{__name__=~"counters_.*_seq"}', total)
    got = {s["metric"]["__name__"]: sorted(set(s["values"])) for s in series_data}
    assert got == {f"counters_{tag}_seq": list(range(1, n + 1)) for tag, n in appended.items()}


async def eventually(condition, timeout: float = 20.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition() and loop.time() < deadline:
        await asyncio.sleep(0.05)
    return bool(condition())


async def test_tls_and_password_protect_the_broker(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    require_binary(MOSQUITTO)
    pki = make_test_pki(tmp_path / "pki")
    broker = Mosquitto(
        tmp_path_factory.mktemp("secure-broker"), users={"bridge": "s3cret", "reader": "r3ad"},
        tls=pki,
    )
    assert broker.url.startswith("mqtts://")
    secure = {"url": broker.url, "tls_ca": str(pki.ca), "reconnect_min_delay": 0.1,
              "reconnect_max_delay": 0.5}
    not_pem = tmp_path / "not-a-ca.pem"
    not_pem.write_text("not a certificate")
    login = {"username": "bridge", "password": "s3cret"}
    with running(broker):
        # A wrong password, an unknown CA and a CA file that is no certificate are refused,
        # and say so.
        expectations = {
            "refused": MqttSettings(**secure, username="bridge", password="wrong"),
            "CERTIFICATE_VERIFY_FAILED": MqttSettings(**{**secure, "tls_ca": None}, **login),
            "NO_CERTIFICATE": MqttSettings(**{**secure, "tls_ca": str(not_pem)}, **login),
        }
        for n, (expected, settings) in enumerate(expectations.items()):
            with Journal(tmp_path / f"refused-{n}") as journal:
                async with MqttSink(journal, settings) as sink:
                    assert await eventually(lambda s=sink: s.last_error is not None)
                    assert not sink.connected and sink.stats()["connects"] == 0
            assert expected in sink.last_error and broker.url in sink.last_error

        recorder = MqttRecorder(broker, "acme/#", username="reader", password="r3ad",
                                tls_ca=pki.ca)
        try:
            settings = MqttSettings(**secure, **login)
            with Journal(tmp_path / "ok") as journal:
                async with MqttSink(journal, settings) as sink:
                    journal.append(
                        Sample(PRESS, "counters", "Parts", i, T0, T0, "Good") for i in range(10)
                    )
                    assert await sink.flush(timeout=30)
            messages = recorder.wait_until(lambda m: len(m) >= 10)
        finally:
            recorder.close()
    assert seqs_in_order(messages) == {PRESS.topic("counters", "Parts"): list(range(1, 11))}


async def test_an_item_mqtt_cannot_carry_is_skipped_not_blocking(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    recorder = MqttRecorder(mosquitto, "acme/#")
    huge = Sample(PRESS, "counters", "x" * 70_000, 1, T0, T0, "Good")  # topic > 65,535 bytes
    try:
        with Journal(tmp_path / "j") as journal:
            async with MqttSink(journal, MqttSettings(url=mosquitto.url)) as sink:
                journal.append([Sample(PRESS, "counters", "Parts", 1, T0, T0, "Good"), huge,
                                Sample(PRESS, "counters", "Parts", 2, T0, T0, "Good")])
                assert await sink.flush(timeout=30)
                stats = sink.stats()
        messages = recorder.wait_until(lambda m: len(m) >= 2)
    finally:
        recorder.close()
    assert stats["rejected"] == 1 and "cannot publish" in stats["last_error"]
    assert [m.json()["value"] for m in messages] == [1, 2]


async def test_qos_2_and_payloads_of_every_length_size_arrive_intact(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    # MQTT writes packet lengths in 1-4 bytes: payloads around each boundary, through QoS 2's
    # PUBREC/PUBREL/PUBCOMP hand-shake.
    recorder = MqttRecorder(mosquitto, "acme/#")
    sizes = [0, 60, 127, 200, 16_383, 20_000, 2_097_151, 2_200_000]
    try:
        with Journal(tmp_path / "j") as journal:
            settings = MqttSettings(url=mosquitto.url, qos=2, client_id="qos2", max_inflight=3)
            async with MqttSink(journal, settings) as sink:
                journal.append(
                    Sample(PRESS, "monitoring", "Trace", "é" * (n // 2), T0, T0, "Good")
                    for n in sizes
                )
                assert await sink.flush(timeout=30)  # QoS 2 confirms on PUBCOMP only
                assert sink.stats()["confirmed"] == len(sizes)
        messages = recorder.wait_until(lambda m: len(m) >= len(sizes))
    finally:
        recorder.close()
    assert [m.json()["value"] for m in messages] == ["é" * (n // 2) for n in sizes]
    assert [m.json()["seq"] for m in messages] == list(range(1, len(sizes) + 1))


@pytest.mark.parametrize("value", [
    0, -7, 2**70, 1.5, -0.0, 1e300, 1e-7, math.nan, math.inf, -math.inf, True, False, None,
    'say "hi"\\ é \n 😀', [1, math.nan, "a"], {"b": math.inf, 1: 2}, b"\x00\xff", (1, 2),
])
def test_sample_payload_text_is_exactly_what_json_writes_for_the_document(value: object) -> None:
    # The hot path assembles sample payloads from pieces; they must equal the documented JSON.
    cest = timezone(timedelta(hours=2))
    for source, server in ((T0, None), (None, datetime(2026, 1, 1, 8, tzinfo=cest)),
                           (datetime(2026, 1, 1), T0)):
        sample = Sample(PRESS, "counters", "Parts", value, source, server, 'Bad"x', "ns=1;s=é")
        text = payload.encode_text(sample, 42)
        assert text == json.dumps(
            payload.sample_document(sample, 42), separators=(",", ":"), ensure_ascii=False,
            allow_nan=False, default=payload.json_default,
        )
        validator().validate(json.loads(text))


def test_mqtt_settings_name_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"'http://x': expected mqtt://host"):
        MqttSettings(url="http://x")
    with pytest.raises(SettingsError, match=r"mqtt://host:99999.*Port out of range"):
        MqttSettings(url="mqtt://host:99999")
    with pytest.raises(SettingsError, match="qos 0: expected 1 or 2"):
        MqttSettings(qos=0)
    with pytest.raises(SettingsError, match=r"tls_ca: file .*missing\.pem"):
        MqttSettings(url="mqtts://broker", tls_ca=str(tmp_path / "missing.pem"))
    with pytest.raises(SettingsError, match="password given without a username"):
        MqttSettings(password="secret")
    with pytest.raises(SettingsError, match="batch 'cell': expected tag or machine"):
        MqttSettings(batch="cell")
    settings = MqttSettings(url="mqtts://broker.example", topic_prefix="/uns/")
    assert (settings.host, settings.port, settings.tls) == ("broker.example", 8883, True)
    assert settings.status_topic == "uns/_bridge/factory-sim-bridge/status"
    assert json.loads(payload.status("b", online=True))["status"] == "online"


def test_a_missing_test_service_skips_locally_but_fails_under_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-broker"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="scripts/install-test-services"):
        require_binary(missing)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no-such-broker is not installed"):
        require_binary(missing)
