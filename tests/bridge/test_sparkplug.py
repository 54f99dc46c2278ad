"""The Sparkplug B output's parts: settings, names and datatypes, the edge node's sequence
numbers, aliases and historical values, and (with a real Mosquitto) the primary host's STATE
and malformed commands. The plant-scale run is `test_sparkplug_traffic.py`."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mqtt_bridge.config import ConfigError, load
from mqtt_bridge.journal import Journal, JournalEntry
from mqtt_bridge.outputs.sparkplug import metrics
from mqtt_bridge.outputs.sparkplug import payload as spb
from mqtt_bridge.outputs.sparkplug import sparkplug_b_pb2 as pb
from mqtt_bridge.outputs.sparkplug.edge_node import EdgeNode
from mqtt_bridge.outputs.sparkplug.settings import SparkplugSettings
from mqtt_bridge.outputs.sparkplug.sink import SparkplugSink
from mqtt_bridge.sample import EventSample, Gap, MachinePath, Sample
from mqtt_bridge.settings import SettingsError
from tests.services import MqttRecorder

PRESS = MachinePath("acme", "plant1", "forming", "line1", "press1", "PressBrakeType")
LASER = MachinePath("acme", "plant1", "cutting", "line1", "laser+1", "PunchLaserType")
T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
MS0 = int(T0.timestamp() * 1000)


@pytest.mark.parametrize(("settings", "message"), [
    ({"url": "http://x"}, "Sparkplug url 'http://x': expected mqtt://host[:port]"),
    ({"group_id": "a/b"}, "Sparkplug group_id 'a/b': expected 1..200 characters without"),
    ({"edge_node_id": ""}, "Sparkplug edge_node_id '': expected"),
    ({"primary_host_id": "scada#1"}, "Sparkplug primary_host_id 'scada#1'"),
    ({"max_metrics": 0}, "Sparkplug max_metrics 0: expected 1..10000"),
    ({"password": "x" * 20}, "Sparkplug password given without a username"),
])
def test_settings_refuse_bad_values_in_one_line(settings: dict, message: str) -> None:
    with pytest.raises(SettingsError) as error:
        SparkplugSettings(**settings)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_the_config_file_section_names_the_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "bridge.toml"
    config.write_text('[opcua]\nurl = "opc.tcp://127.0.0.1:4840"\n'
                      '[sparkplug]\nurl = "mqtt://127.0.0.1:1883"\ngroup = "acme"\n')
    with pytest.raises(ConfigError, match=r"bridge.toml: unknown setting sparkplug.group; known"):
        load({}, str(config), env={})
    config.write_text('[opcua]\nurl = "opc.tcp://127.0.0.1:4840"\n'
                      '[sparkplug]\nurl = "mqtt://127.0.0.1:1883"\ngroup_id = "acme"\n'
                      'primary_host_id = "scada"\n')
    loaded = load({}, str(config), env={"FACTORY_SIM_BRIDGE_SPARKPLUG_EDGE_NODE_ID": "line7"})
    assert loaded.sparkplug.topic("NBIRTH") == "spBv1.0/acme/NBIRTH/line7"
    assert loaded.sparkplug.state_topic == "spBv1.0/STATE/scada"
    assert load({("opcua", "url"): "opc.tcp://h:4840"}, env={}).sparkplug is None  # no url: off


def test_names_follow_umh_and_values_keep_their_type() -> None:
    assert metrics.device_id(LASER) == "acme:plant1:cutting:line1:laser_1"  # no + / # in ids
    cases = [(True, metrics.BOOLEAN, True), (-5, metrics.INT64, -5), (2**70, metrics.STRING,
             str(2**70)), (1.5, metrics.DOUBLE, 1.5), ("Executing", metrics.STRING, "Executing"),
             (T0, metrics.DATETIME, MS0), (b"\x00\x01", metrics.BYTES, b"\x00\x01"),
             ([1, 2], metrics.STRING, "[1,2]"), (None, metrics.STRING, None)]
    for value, datatype, decoded in cases:
        text = metrics.encode_text(Sample(PRESS, "counters", "Parts", value, T0, T0, "Good"), 1)
        update = metrics.parse(text)
        assert (update.device, update.metric, update.timestamp) == (
            "acme:plant1:forming:line1:press1", "counters:Parts", MS0)
        assert update.datatype == datatype and update.value() == decoded, value
        message = pb.Payload.FromString(spb.device_birth(
            1, MS0, [(update.timestamp, update.metric, update.raw, 1, datatype, False)]))
        assert spb.value_of(message.metrics[0], datatype) == decoded, value
        assert (message.metrics[0].name, message.metrics[0].alias) == ("counters:Parts", 1)
    nan = metrics.parse(metrics.encode_text(
        Sample(PRESS, "m", "t", math.nan, T0, T0, "Good"), 1))
    assert nan.datatype == metrics.DOUBLE and math.isnan(nan.value())
    event = metrics.parse(metrics.encode_text(
        EventSample(PRESS, "AlarmConditionType", T0, 700, "<b>hot</b>", {"Active": True}), 3))
    assert (event.metric, event.datatype) == ("alarms", metrics.STRING)
    assert json.loads(event.value())["message"] == "<b>hot</b>"  # data, never markup


def entry(node: EdgeNode, rowid: int, seq: int, item: Sample | Gap) -> JournalEntry:
    text = metrics.encode_text(item, seq)
    current = type(item) is Sample and not item.late
    node.learn(item.key, seq, text, current=current)
    return JournalEntry(rowid, seq, item.key, current, text)


def test_edge_node_sequence_aliases_and_historical_values() -> None:
    node = EdgeNode(SparkplugSettings(max_metrics=2), bd_seq=255)
    death = pb.Payload.FromString(node.will())
    assert [(m.name, m.long_value) for m in death.metrics] == [("bdSeq", 255)]
    assert not death.HasField("seq")
    node.connect_sent()
    assert (node.bd_seq, node.next_bd_seq) == (255, 0)  # bdSeq wraps after 255
    parts = [entry(node, i, i, Sample(PRESS, "counters", "Parts", i, T0 + timedelta(seconds=i),
                                      None, "Good")) for i in (1, 2)]
    births = node.births(MS0)
    assert [t.split("/")[2] for t, _ in births] == ["NBIRTH", "DBIRTH"]
    nbirth = pb.Payload.FromString(births[0][1])
    assert nbirth.seq == 0 and [m.name for m in nbirth.metrics] == ["bdSeq", spb.REBIRTH]
    dbirth = pb.Payload.FromString(births[1][1])
    assert [(m.name, m.alias, m.long_value) for m in dbirth.metrics] == [("counters:Parts", 1, 2)]
    # both values were in the journal when the birth reported the newest: historical
    data = pb.Payload.FromString(node.data(parts, MS0)[0][1])
    assert [(m.alias, m.long_value, m.is_historical, m.name) for m in data.metrics] == [
        (1, 1, True, ""), (1, 2, True, "")]
    later = entry(node, 3, 3, Sample(PRESS, "counters", "Parts", 3, T0, None, "Good"))
    gap = entry(node, 4, 4, Gap(PRESS, "counters", "Parts", T0, T0, "server keeps no history",
                                seqs=(5, 9)))
    late = entry(node, 5, 10, Sample(PRESS, "counters", "Parts", 0, T0, None, "Good",
                                     late=True))
    three = node.data([later, gap, late], MS0)
    assert len(three) == 2  # max_metrics 2 per DDATA
    sent = [m for _, raw in three for m in pb.Payload.FromString(raw).metrics]
    assert [m.is_historical for m in sent] == [False, True, True]
    properties = dict(zip(sent[1].properties.keys,
                          [v.WhichOneof("value") or "null" for v in sent[1].properties.values],
                          strict=True))
    assert sent[1].is_null and properties == {
        "gap": "boolean_value", "gapFrom": "long_value", "gapTo": "long_value",
        "gapReason": "string_value", "gapSeqs": "string_value"}
    # seq runs over every message of the node and wraps after 255
    seqs = [pb.Payload.FromString(raw).seq for _, raw in three]
    assert seqs == [3, 4]
    for _ in range(300):
        node.data([later], MS0)
    assert node.seq == (5 + 300) % 256
    # a metric the birth did not report: born again, aliases stay unique and stable
    spindle = entry(node, 6, 1, Sample(LASER, "monitoring", "Spindle", 1.0, T0, None, "Good"))
    assert node.data([spindle], MS0) is None
    aliases = {m.name: m.alias for _, raw in node.births(MS0)[1:]
               for m in pb.Payload.FromString(raw).metrics}
    assert aliases == {"counters:Parts": 1, "monitoring:Spindle": 2}
    assert node.data([spindle], MS0) is not None


def test_rebirth_requests_are_read_strictly() -> None:
    request = pb.Payload()
    request.metrics.add(name=spb.REBIRTH, datatype=11, boolean_value=True)
    assert spb.rebirth_request(request.SerializeToString()) is True
    request.metrics[0].boolean_value = False
    assert spb.rebirth_request(request.SerializeToString()) is False
    assert spb.rebirth_request(b"\xff\xff not protobuf") is None


async def test_births_wait_for_the_primary_host_and_stop_when_it_goes(
    mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = SparkplugSettings(url=mosquitto.url, group_id="g", edge_node_id="e",
                                 primary_host_id="scada")
    recorder = MqttRecorder(mosquitto, "spBv1.0/#")
    host = recorder._client
    state = "spBv1.0/STATE/scada"

    def publish_state(online: bool, stamp: int) -> None:
        host.publish(state, json.dumps({"online": online, "timestamp": stamp}), qos=1,
                     retain=True)

    try:
        with Journal(tmp_path / "journal") as journal:
            sink = SparkplugSink(journal, settings)
            journal.append([Sample(PRESS, "counters", "Parts", 1, T0, None, "Good")])
            with caplog.at_level(logging.WARNING):
                async with sink:
                    while not sink.connected:
                        await asyncio.sleep(0.02)
                    host.publish(state, b"{not json", qos=1)
                    host.publish(state, json.dumps({"online": "yes"}), qos=1)
                    publish_state(False, MS0 + 10)
                    publish_state(True, MS0)  # older than the offline: ignored
                    marker = await asyncio.to_thread(recorder.settle, "spBv1.0/_test/marker")
                    publish_state(True, MS0 + 20)
                    assert await sink.flush(10)
                    # the host goes: the node says goodbye and waits for it again
                    publish_state(False, MS0 + 30)
                    messages = await asyncio.to_thread(recorder.wait_until, lambda ms: any(
                        "NDEATH" in m.topic for m in ms))
        topics = [m.topic.split("/")[2] for m in messages
                  if m.topic != state and "_test" not in m.topic]
        assert not [m for m in marker if "BIRTH" in m.topic]  # nothing before "online"
        assert topics[:2] == ["NBIRTH", "DBIRTH"] and topics[-1] == "NDEATH"
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any("STATE on spBv1.0/STATE/scada ignored: not JSON" in w for w in warnings)
        assert any('expected {"online": true|false' in w for w in warnings)
        assert any("primary host scada went offline" in w for w in warnings)
        assert not any("unavailable" in w for w in warnings)  # the broker was there throughout
    finally:
        host.publish(state, b"", qos=1, retain=True)
        recorder.close()


async def test_commands_other_than_rebirth_are_ignored_and_logged_once(
    mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The bridge is read-only toward the plant: a DCMD (well-formed or not) and an NCMD other
    than `Node Control/Rebirth` = true are counted and logged once per type and reason; the
    node stays connected, is not born again and goes on delivering."""
    settings = SparkplugSettings(url=mosquitto.url, group_id="g", edge_node_id="e")
    write = pb.Payload(timestamp=MS0, seq=0)
    write.metrics.add(name="counters:Parts", datatype=4, long_value=0)
    no_rebirth = pb.Payload(timestamp=MS0)
    no_rebirth.metrics.add(name=spb.REBIRTH, datatype=11, boolean_value=False)
    device = settings.topic("DCMD", "acme:plant1:forming:line1:press1")
    commands = [(settings.topic("NCMD"), junk) for junk in (
        b"\x0a\xff", b"\x0a\xff\xff", b"x" * 70_000, no_rebirth.SerializeToString(),
        no_rebirth.SerializeToString())] + [
        (device, write.SerializeToString()), (device, b"\x0a\xff"),
        (settings.topic("DCMD", "other"), write.SerializeToString()), (device, b"x" * 70_000)]
    recorder = MqttRecorder(mosquitto, "spBv1.0/#")
    try:
        with Journal(tmp_path / "journal") as journal, caplog.at_level(logging.WARNING):
            async with SparkplugSink(journal, settings) as sink:
                journal.append([Sample(PRESS, "counters", "Parts", 1, T0, None, "Good")])
                assert await sink.flush(10)
                for topic, data in commands:
                    recorder._client.publish(topic, data, qos=1)
                await asyncio.to_thread(recorder.wait_until, lambda _m: sink.stats()[
                    "commands_ignored"] >= len(commands), 10)
                journal.append([Sample(PRESS, "counters", "Parts", 2, T0, None, "Good")])
                assert await sink.flush(10)
                stats = sink.stats()
                assert (stats["births"], stats["rebirth_requests"], sink.connected) == (
                    1, 0, True)
                assert stats["commands_ignored"] == len(commands)
    finally:
        recorder.close()
    warnings = [r.getMessage() for r in caplog.records if "CMD" in r.getMessage()]
    expected = ["NCMD on spBv1.0/g/NCMD/e ignored: not a Sparkplug B payload",
                "NCMD on spBv1.0/g/NCMD/e ignored: 70000 bytes, more than 65536",
                "NCMD on spBv1.0/g/NCMD/e ignored: only 'Node Control/Rebirth' = true is",
                f"DCMD on {device} ignored: the bridge is read-only toward the plant",
                f"DCMD on {device} ignored: 70000 bytes, more than 65536"]
    assert len(warnings) == len(expected), warnings  # once per type and reason
    for line in expected:
        assert any(w.startswith(f"Sparkplug {line}") for w in warnings), (line, warnings)
    assert all("\n" not in w for w in warnings)


def test_the_readme_lists_exactly_the_requirements_the_checker_covers() -> None:
    from tests.bridge.sparkplug_checker import DEVICE_DEATH_REQUIREMENTS, REQUIREMENTS

    readme = (Path(__file__).resolve().parents[2]
              / "mqtt_bridge/outputs/sparkplug/README.md").read_text()
    listed = readme.split("with a broker restart, a rebirth request and a SIGKILL in the "
                          "middle:\n", 1)[1].split(".\n", 1)[0]
    assert [name.strip() for name in listed.split(",")] == list(REQUIREMENTS)
    deaths = readme.split("test_sparkplug.py`), also these:\n\n", 1)[1].split(".\n", 1)[0]
    assert [name.strip() for name in deaths.split(",")] == list(DEVICE_DEATH_REQUIREMENTS)


def test_a_colon_inside_a_name_cannot_shift_umh_levels() -> None:
    odd = MachinePath("acme", "site:1", "a", "l", "cell", "T")
    assert metrics.device_id(odd) == "acme:site_1:a:l:cell"
    assert metrics.metric_name("JobManagement.JobOrderControl", "a:b") == (
        "JobManagement.JobOrderControl:a_b")


def test_journal_texts_of_the_json_release_and_retyped_values_still_go_out() -> None:
    """Rows a bridge update finds in its journal (the earlier JSON text) are sent as before;
    an Int64 value of a metric born Double goes out as a Double, a null as its birth's type."""
    node = EdgeNode(SparkplugSettings(), bd_seq=0)
    key = PRESS.topic("monitoring", "Force")
    old = json.dumps(["acme:plant1:forming:line1:press1", "monitoring:Force", "v",
                      metrics.DOUBLE, 2.5, MS0, None])
    node.learn(key, 1, old)
    birth = pb.Payload.FromString(node.births(MS0)[1][1])
    assert [(m.name, m.datatype, m.double_value) for m in birth.metrics] == [
        ("monitoring:Force", metrics.DOUBLE, 2.5)]
    force = Sample(PRESS, "monitoring", "Force", 3, T0, None, "Good")  # an int this time
    null = Sample(PRESS, "monitoring", "Force", None, T0, None, "Bad")
    rows = [JournalEntry(1, 1, key, True, old)] + [
        JournalEntry(i, i, key, True, metrics.encode_text(item, i))
        for i, item in ((2, force), (3, null))]
    sent = pb.Payload.FromString(node.data(rows, MS0)[0][1]).metrics
    assert [(m.datatype, spb.value_of(m, m.datatype), m.is_historical) for m in sent] == [
        (metrics.DOUBLE, 2.5, True), (metrics.DOUBLE, 3.0, False), (metrics.DOUBLE, None, False)]


async def test_a_device_whose_source_is_lost_dies_and_is_born_again(
    mosquitto, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A machine whose source is lost gets a DDEATH (the node's next seq) once the rows
    appended before the loss went out, and nothing more until it is born again: when its
    source is back, or when a row of it arrives. The checker's DDEATH IDs on that traffic."""
    from tests.bridge import sparkplug_checker

    settings = SparkplugSettings(url=mosquitto.url, group_id="g", edge_node_id="e")
    press = metrics.device_id(PRESS)

    def parts(value: int) -> Sample:
        return Sample(PRESS, "counters", "Parts", value, T0 + timedelta(seconds=value), None,
                      "Good")

    def deaths(messages: list) -> list:
        return [m for m in messages if m.topic == settings.topic("DDEATH", press)]

    recorder = MqttRecorder(mosquitto, "spBv1.0/#")
    try:
        with Journal(tmp_path / "journal") as journal:
            async with SparkplugSink(journal, settings) as sink:
                journal.append([parts(1), Sample(LASER, "monitoring", "Power", 1.5, T0, None,
                                                 "Good")])
                assert await sink.flush(10)
                journal.append([parts(2)])  # appended before the loss: sent before the DDEATH
                sink.sources_live([LASER])  # the press's server is gone
                sink.sources_live([LASER])  # still gone: one DDEATH only
                assert await sink.flush(10)
                await asyncio.to_thread(recorder.wait_until, lambda ms: deaths(ms), 10)
                assert sink.stats()["dead_devices"] == 1
                sink.sources_live([PRESS, LASER])  # back: born again
                await asyncio.to_thread(recorder.wait_until, lambda _m: sink.stats()[
                    "births"] == 2, 10)
                journal.append([parts(3)])
                assert await sink.flush(10)
                sink.sources_live([LASER])  # lost again; this time a row of it comes first
                await asyncio.to_thread(recorder.wait_until, lambda ms: len(deaths(ms)) == 2,
                                        10)
                journal.append([parts(4)])  # e.g. read back from history after a reconnect
                assert await sink.flush(10)
                stats = sink.stats()
                assert (stats["births"], stats["dead_devices"]) == (3, 0)
        messages = recorder.settle("spBv1.0/_test/marker")
    finally:
        recorder.close()
    flow = [(m.topic.split("/")[2], pb.Payload.FromString(m.payload)) for m in messages
            if m.topic.endswith(press) or "NBIRTH" in m.topic]
    kinds = [kind for kind, _ in flow]
    assert kinds == ["NBIRTH", "DBIRTH", "DDATA", "DDATA", "DDEATH", "NBIRTH", "DBIRTH",
                     "DDATA", "DDEATH", "NBIRTH", "DBIRTH", "DDATA"], kinds
    death = flow[4][1]
    assert not death.metrics and death.HasField("timestamp") and death.seq == flow[3][1].seq + 1
    results = sparkplug_checker.check(messages, "g", "e", device_deaths=True)
    with capsys.disabled():
        print("\n" + "\n".join(line for line in sparkplug_checker.report(results).splitlines()
                               if "ddeath" in line))
    assert not [r for r, result in results.items() if result.offences], (
        sparkplug_checker.report(results))
    assert all(results[r].passed for r in sparkplug_checker.DEVICE_DEATH_REQUIREMENTS)
