"""The UMH output against a real Mosquitto: every message follows UMH's published schemas and
topic rules (`umh_contract.py`), every item's `seq` is in a delivery record, and neither a
broker outage nor a SIGKILL of the bridge loses anything."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import subprocess
import sys
import textwrap
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mqtt_bridge.journal import Journal
from mqtt_bridge.outputs.umh import states
from mqtt_bridge.outputs.umh.settings import UmhSettings
from mqtt_bridge.outputs.umh.sink import UmhSink
from mqtt_bridge.sample import EventSample, Gap, MachinePath, Sample
from mqtt_bridge.settings import SettingsError
from tests.bridge.umh_contract import check
from tests.services import Mosquitto, MqttRecorder, Received

PRESS = MachinePath("acme", "plant 1", "forming", "line.1", "_press brake", "PressBrakeType")
WHERE = "umh/v1/acme/plant_1/forming/line_1/x_press_brake"  # sanitised: UMH's topic rules
T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def ms(stamp: datetime) -> int:
    return int(stamp.timestamp() * 1000)


def job_list(*orders: tuple[str, int]) -> list[dict]:
    """JobOrderList as the bridge reads it (ISA95JobOrderAndStateDataType, decoded)."""
    return [{"JobOrder": {"JobOrderID": job, "MaterialRequirements": [
                {"MaterialDefinitionID": "bracket", "Quantity": None}],
             "JobOrderParameters": [{"ID": "RunsPlanned", "Value": {"Value": 3,
                                                                    "VariantType": 7}}]},
             "State": [{"StateNumber": state}]} for job, state in orders]


def plant_items() -> list:
    """A press brake's day in miniature: values of every kind, states, a job order, parts."""
    at = [T0 + timedelta(seconds=i) for i in range(20)]
    jobs = "JobManagement.JobOrderControl"
    return [
        Sample(PRESS, "counters", "Parts", 1, at[0], at[0], "Good"),
        Sample(PRESS, "counters", "Strokes", 10, at[0], at[0], "Good"),  # same time: merged
        Sample(PRESS, "counters", "timestamp_ms", 5, at[0], at[0], "Good"),  # not the key
        Sample(PRESS, "Monitoring", "Temperature", math.nan, at[1], at[1], "Good"),
        Sample(PRESS, "Monitoring", "Ready", True, at[1], at[1], "Good"),
        Sample(PRESS, "Tooling", "ActiveTool", "V-12", at[1], at[1], "Good"),
        Sample(PRESS, "Tooling", "Life", [1, 2], at[1], at[1], "Good"),  # an array
        Sample(PRESS, "Tooling", "Life", None, at[2], at[2], "BadWaitingForInitialData"),
        Sample(PRESS, "state", "CurrentState", "NotExecuting", at[2], at[2], "Good"),
        Sample(PRESS, "state", "CurrentState", "Executing", at[3], at[3], "Good"),
        Sample(PRESS, jobs, "JobOrderList", job_list(("J1", 2)), at[3], at[3], "Good"),
        Sample(PRESS, "CurrentOrder", "Variant", "bracket", at[4], at[4], "Good"),
        Sample(PRESS, "Monitoring", "GoodParts", 0, at[4], at[4], "Good"),
        Sample(PRESS, jobs, "JobOrderList", job_list(("J1", 3)), at[5], at[5], "Good"),
        Sample(PRESS, "Monitoring", "GoodParts", 2, at[6], at[6], "Good"),
        Sample(PRESS, "Monitoring", "ScrapParts", 0, at[6], at[6], "Good"),
        Sample(PRESS, "Monitoring", "ScrapParts", 1, at[7], at[7], "Good"),
        Sample(PRESS, jobs, "JobOrderList", job_list(("J1", 5), ("J2", 1)), at[8], at[8],
               "Good"),
        Sample(PRESS, "counters", "Parts", 2, at[9], at[9], "Good"),
        Sample(PRESS, "counters", "Parts", 1, at[0], at[0], "Good", late=True, replaces=1),
        Gap(PRESS, "counters", "Parts", at[9], at[10], "the server keeps no history"),
        EventSample(PRESS, "TransitionEventType", at[10], 100, "NotExecuting -> Executing"),
        EventSample(PRESS, "AlarmConditionType", at[11], 800, "hydraulic pressure low",
                    {"ActiveState": True, "Quality": math.inf}),
        Sample(PRESS, "state", "CurrentState", "OutOfService", at[12], at[12], "Good"),
    ]


def delivered(messages: Iterable[Received]) -> dict[str, list]:
    """Per series (`<topic of the machine>|<series>`), the delivery records in arrival order,
    redeliveries removed, after checking that every new seq is one more than the last."""
    seen: dict[str, list] = defaultdict(list)
    for message in messages:
        if not message.topic.endswith("/_local/delivery"):
            continue
        where = message.topic.removesuffix("/_local/delivery")
        for series, records in message.json()["seq"].items():
            numbers = seen[f"{where}|{series}"]
            for record in records:
                seq = record[0] if isinstance(record, list) else record["seq"]
                highest = numbers[-1][0] if numbers else 0
                if seq > highest:
                    assert seq == highest + 1, f"{where} {series}: {seq} after {highest}"
                    numbers.append((seq, record))
    return seen


def checked(messages: Iterable[Received], form: str) -> list[tuple[str, str, dict]]:
    return [check(m.topic, m.payload, form) for m in messages if m.topic.startswith("umh/")]


@pytest.mark.parametrize("form", ["classic", "core"])
async def test_every_message_follows_umh_rules_and_every_seq_is_recorded(
    tmp_path: Path, mosquitto: Mosquitto, form: str
) -> None:
    recorder = MqttRecorder(mosquitto, "umh/#")
    items = plant_items()
    try:
        with Journal(tmp_path / "j") as journal:
            settings = UmhSettings(url=mosquitto.url, form=form, client_id=f"umh-{form}")
            async with UmhSink(journal, settings) as sink:
                journal.append(items)
                assert await sink.flush(timeout=20)
                assert sink.stats()["rejected"] == 0
            messages = recorder.wait_until(
                lambda m: len(delivered(m).get(f"{WHERE}|state.CurrentState", [])) == 3)
    finally:
        recorder.close()
    documents = checked(messages, form)  # every message: UMH's schema and topic rules
    records = delivered(messages)
    # every item's seq, once, in its series; values UMH cannot take are named with status
    assert {series: [seq for seq, _ in numbers] for series, numbers in records.items()} == {
        f"{WHERE}|counters.Parts": [1, 2, 3, 4], f"{WHERE}|counters.Strokes": [1],
        f"{WHERE}|counters.timestamp_ms": [1], f"{WHERE}|Monitoring.Temperature": [1],
        f"{WHERE}|Monitoring.Ready": [1], f"{WHERE}|Tooling.ActiveTool": [1],
        f"{WHERE}|Tooling.Life": [1, 2], f"{WHERE}|state.CurrentState": [1, 2, 3],
        f"{WHERE}|JobManagement.JobOrderControl.JobOrderList": [1, 2, 3],
        f"{WHERE}|CurrentOrder.Variant": [1], f"{WHERE}|Monitoring.GoodParts": [1, 2],
        f"{WHERE}|Monitoring.ScrapParts": [1, 2], f"{WHERE}|events": [1],
        f"{WHERE}|alarms": [1],
    }
    parts = dict(records[f"{WHERE}|counters.Parts"])
    assert parts[3] == {"seq": 3, "timestamp_ms": ms(T0), "replaces": 1}
    assert parts[4] == {"seq": 4, "timestamp_ms": None, "gap": True}
    assert dict(records[f"{WHERE}|Tooling.Life"])[2]["status"] == "BadWaitingForInitialData"
    by_contract = defaultdict(list)
    for contract, path, document in documents:
        by_contract[contract].append((path, document))

    values = defaultdict(list)  # (path, tag) -> (timestamp_ms, value)
    for path, document in by_contract["_historian" if form == "classic" else "_raw"]:
        if form == "classic":
            for tag, value in document.items():
                if tag != "timestamp_ms":
                    values[(path, tag)].append((document["timestamp_ms"], value))
        else:
            group, tag = path.rsplit("/", 1)
            values[(group, tag)].append((document["timestamp_ms"], document["value"]))
    # the value given back late is history for UMH too (UMH keys a value by tag and time)
    assert values[("counters", "Parts")] == [(ms(T0), 1), (ms(T0) + 9000, 2), (ms(T0), 1)]
    # a tag called timestamp_ms cannot be a key of a Classic payload
    assert values[("counters", "timestamp_ms_" if form == "classic" else "timestamp_ms")] == [
        (ms(T0), 5)]
    assert values[("Monitoring", "Temperature")] == [(ms(T0) + 1000, "NaN")]
    assert values[("Monitoring", "Ready")] == [(ms(T0) + 1000, True)]
    assert values[("Tooling", "Life")] == [(ms(T0) + 1000, "[1,2]")]  # the bad value: none
    if form == "classic":  # one message per topic and time, as UMH's payload allows
        first = [d for p, d in by_contract["_historian"] if d["timestamp_ms"] == ms(T0)]
        assert first == [{"timestamp_ms": ms(T0), "Parts": 1, "Strokes": 10, "timestamp_ms_": 5},
                         {"timestamp_ms": ms(T0), "Parts": 1}]  # the late value, in its round

    analytics = [(path, document) for path, document in by_contract["_analytics"]]
    t = ms(T0)
    assert analytics == [
        ("state/add", {"start_time_unix_ms": t + 2000, "state": states.UNSPECIFIED_STOP}),
        ("state/add", {"start_time_unix_ms": t + 3000, "state": states.PRODUCING}),
        ("work-order/create", {"external_work_order_id": "J1", "product": {
            "external_product_id": "bracket"}, "quantity": 3, "status": 0}),
        ("work-order/start", {"external_work_order_id": "J1", "start_time_unix_ms": t + 5000}),
        ("product/add", {"external_product_type_id": "bracket", "end_time_unix_ms": t + 6000,
                         "quantity": 2}),
        ("product/add", {"external_product_type_id": "bracket", "end_time_unix_ms": t + 7000,
                         "quantity": 1, "bad_quantity": 1}),
        ("work-order/stop", {"external_work_order_id": "J1", "end_time_unix_ms": t + 8000}),
        ("work-order/create", {"external_work_order_id": "J2", "product": {
            "external_product_id": "bracket"}, "quantity": 3, "status": 0}),
        ("state/add", {"start_time_unix_ms": t + 12000, "state": states.EQUIPMENT_FAILURE}),
    ]
    local = {path: document for path, document in by_contract["_local"] if path != "delivery"}
    assert local["gaps"]["series"] == "counters.Parts" and local["gaps"]["seq"] == 4
    assert local["alarms"]["fields"] == {"ActiveState": True, "Quality": "Infinity"}
    assert local["events"]["message"] == "NotExecuting -> Executing"


def test_umh_settings_name_what_is_wrong() -> None:
    for settings, expected in (
        ({"form": "sparkplug"}, "UMH form 'sparkplug': expected classic or core"),
        ({"origin_id": "a.b"}, "UMH origin_id 'a.b': expected letters"),
        ({"topic_prefix": "uns"}, "UMH topic_prefix 'uns': UMH's topics begin with umh/v1"),
        ({"state_variable": "x/y"}, "UMH state_variable 'x/y': expected one of"),
    ):
        with pytest.raises(SettingsError, match=f"^{expected}"):
            UmhSettings(**settings)


async def test_a_broker_outage_loses_and_reorders_nothing(
    tmp_path: Path, mosquitto_persistent: Mosquitto
) -> None:
    broker = mosquitto_persistent
    recorder = MqttRecorder(broker, "umh/#", session=True)  # its session survives the restart
    tags = ("Parts", "GoodParts", "Strokes")
    appended = dict.fromkeys(tags, 0)
    stop = asyncio.Event()

    async def produce(journal: Journal) -> None:
        while not stop.is_set():
            now = datetime.now(UTC)
            for tag in tags:
                appended[tag] += 1
            journal.append(Sample(PRESS, "counters", tag, appended[tag], now, now, "Good")
                           for tag in tags)
            await asyncio.sleep(0.02)

    settings = UmhSettings(url=broker.url, reconnect_min_delay=0.2, reconnect_max_delay=1)
    try:
        with Journal(tmp_path / "j") as journal:
            async with UmhSink(journal, settings) as sink:
                producer = asyncio.create_task(produce(journal))
                await asyncio.sleep(0.5)
                await asyncio.to_thread(broker.stop)
                await asyncio.sleep(2)
                held = sink.stats()["pending"]
                await asyncio.to_thread(broker.start)
                await asyncio.sleep(0.5)
                stop.set()
                await producer
                assert await sink.flush(timeout=60)
                stats = sink.stats()
            expected = {f"{WHERE}|counters.{tag}": n for tag, n in appended.items()}
            messages = recorder.wait_until(
                lambda m: {s: r[-1][0] for s, r in delivered(m).items()} == expected)
    finally:
        recorder.close()
    assert stats["connects"] >= 2 and held > 20  # the outage really held data back
    records = delivered(messages)
    assert {series: [seq for seq, _ in r] for series, r in records.items()} == {
        series: list(range(1, n + 1)) for series, n in expected.items()}
    # every value reached _historian too, at the time its delivery record names
    values = defaultdict(set)
    for contract, _path, document in checked(messages, "classic"):
        if contract == "_historian":
            for tag, value in document.items():
                if tag != "timestamp_ms":
                    values[f"{WHERE}|counters.{tag}"].add((document["timestamp_ms"], value))
    for series, numbers in records.items():
        assert {(record[1], seq) for seq, record in numbers} == values[series], series


_DOOMED_BRIDGE = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import UTC, datetime, timedelta
    from mqtt_bridge.journal import Journal
    from mqtt_bridge.outputs.umh.settings import UmhSettings
    from mqtt_bridge.outputs.umh.sink import UmhSink
    from mqtt_bridge.sample import MachinePath, Sample

    PRESS = MachinePath("acme", "plant1", "forming", "line1", "press1", "PressBrakeType")
    T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)

    async def main(path, url, count):
        journal = Journal(path)
        async with UmhSink(journal, UmhSettings(url=url, client_id="doomed")) as sink:
            print("pending", journal.pending("umh"), flush=True)
            if count:
                journal.append(Sample(PRESS, "counters", "Parts", i,
                                      T0 + timedelta(milliseconds=i), None, "Good")
                               for i in range(1, count + 1))
                journal.commit()
                while sink.stats()["confirmed"] == 0:
                    await asyncio.sleep(0.001)
                print("delivering", flush=True)
                await asyncio.sleep(600)  # until killed
            assert await sink.flush(timeout=60)
            print("done", flush=True)

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


def test_a_sigkill_of_the_bridge_loses_nothing(tmp_path: Path, mosquitto: Mosquitto) -> None:
    count = 5_000
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    recorder = MqttRecorder(mosquitto, "umh/#")
    command = [sys.executable, "-c", _DOOMED_BRIDGE, str(tmp_path / "j"), mosquitto.url]
    try:
        with subprocess.Popen([*command, str(count)], stdout=subprocess.PIPE, text=True,
                              env=env) as bridge:
            assert bridge.stdout.readline().split() == ["pending", "0"]
            assert bridge.stdout.readline().strip() == "delivering"
            bridge.send_signal(signal.SIGKILL)
            bridge.wait()
        again = subprocess.run([*command, "0"], capture_output=True, text=True, env=env,
                               timeout=120, check=True)
        # what was not acknowledged in the file when it died (acks are written with the next
        # commit, so a few already delivered may come again: at least once)
        left = int(again.stdout.split()[1])
        assert 0 < left <= count and again.stdout.split()[2] == "done"
        series = "umh/v1/acme/plant1/forming/line1/press1|counters.Parts"
        messages = recorder.wait_until(
            lambda m: delivered(m).get(series, [(0,)])[-1][0] == count, timeout=60)
    finally:
        recorder.close()
    assert [seq for seq, _ in delivered(messages)[series]] == list(range(1, count + 1))
    values = {(d["timestamp_ms"], d["Parts"]) for contract, _p, d in checked(messages, "classic")
              if contract == "_historian"}
    t0 = ms(datetime(2026, 11, 23, 6, 0, tzinfo=UTC))
    assert values == {(t0 + i, i) for i in range(1, count + 1)}


def test_the_sample_configuration_is_valid_and_a_wrong_form_is_one_line() -> None:
    from mqtt_bridge.config import ConfigError, load

    sample = PROJECT_ROOT / "mqtt_bridge/outputs/umh/umh.example.toml"
    config = load({}, str(sample), {})
    assert config.umh.form == "classic" and config.umh.state_variable == "state/CurrentState"
    assert [n.browse_path for n in config.opcua.nodes] == ["Plant/CurrentShift"]
    with pytest.raises(ConfigError) as error:
        load({("umh", "form"): "sparkplug"}, str(sample), {})
    assert str(error.value) == (f"config file {sample}: UMH form 'sparkplug': expected classic "
                                "or core")


def test_the_demo_gives_each_plants_bridge_its_own_umh_client_and_origin() -> None:
    from factory_cli.commands.bridge import OPTIONS
    from factory_cli.uns_dialects import DIALECTS
    from mqtt_bridge.config import load

    flags = {flag: where for flag, where, _help in OPTIONS}
    settings = []
    for plant in ("reference-standalone", "reference-opcua"):
        options = DIALECTS["umh"].bridge_options(plant, "mqtt://127.0.0.1:1883")
        cli = {flags[flag]: value for flag, value in zip(options[::2], options[1::2],
                                                         strict=True)}
        settings.append(load(cli, None, {}).umh)
    assert [(s.client_id, s.origin_id) for s in settings] == [
        ("umh-reference-standalone", "reference-standalone"),
        ("umh-reference-opcua", "reference-opcua")]
