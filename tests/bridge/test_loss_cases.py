"""The loss cases an independent fault run found (issue 23), each with real services: the
in-test Machinery server, a real Mosquitto, the bridge in this process; asserting what a
consumer of the unified namespace sees."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from datetime import UTC, datetime, timedelta

from tests.bridge.bridges import running, stop_bridge
from tests.bridge.machinery_server import MachineryServer
from tests.bridge.test_bridge_faults import (
    SPINDLE,
    TEMPERATURE,
    bound_journal_broker_down,
    bridge_config,
    documents,
    in_order,
    restart_without_history,
    settle,
    start_bridge,
    until,
    values,
)
from tests.services import MqttRecorder, Received


def gap_records(messages: list[Received]) -> list[tuple[str, dict]]:
    """(topic, its "gap" object) of every gap record received."""
    return [(m.topic, document["gap"]) for m in messages
            if isinstance(document := m.json(), dict) and "gap" in document]


def when(stamp: str | None) -> datetime | None:
    return None if stamp is None else datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def test_a_gap_record_never_runs_backwards_when_a_restarted_servers_clock_went_back(
    fresh_server: MachineryServer, mosquitto, tmp_path
) -> None:
    """A server without durable history restarts and its clock starts again behind what it
    served before (a simulator's plant starts afresh). What it changed before the restart and
    did not publish is lost: a gap record says so, and it never runs from a later time to an
    earlier one (a consumer or the time series would read a negative length)."""
    successor = MachineryServer(fresh_server.port, clock_offset=-timedelta(hours=6))
    messages = await restart_without_history(fresh_server, successor, mosquitto, tmp_path)
    gaps = gap_records(messages)
    backwards = [(topic, gap) for topic, gap in gaps
                 if gap["from"] is not None and gap["to"] is not None
                 and when(gap["from"]) > when(gap["to"])]
    assert not backwards, backwards[:3]
    documents = in_order(messages, TEMPERATURE)
    (gap,) = [d for d in documents if "gap" in d]
    after = documents[documents.index(gap) + 1:]
    assert gap["gap"]["to"] == after[0]["sourceTimestamp"]
    assert "clock went back" in gap["gap"]["reason"]
    assert 200.0 in [d["value"] for d in after] and 104.0 not in [d.get("value") for d in after]


def accounted(messages: list[Received], topic: str) -> tuple[set[int], set[int]]:
    """(every seq of the topic that arrived or is named, every seq up to the newest): a
    number is named by a late value's `replaces` or lies in a gap record's `seqs`."""
    by_seq = documents(messages, topic)
    named = set(by_seq)
    for document in by_seq.values():
        if "replaces" in document:
            named.add(document["replaces"])
        if "seqs" in document.get("gap", {}):
            first, last = document["gap"]["seqs"]
            named.update(range(first, last + 1))
    return named, set(range(1, max(by_seq) + 1))


async def test_a_read_back_never_overflows_the_journal_and_every_seq_is_accounted_for(
    fresh_server: MachineryServer, mosquitto_persistent, tmp_path, caplog
) -> None:
    """Journal bound 200, the broker down while 3,000 values change: the journal drops the
    oldest. Once the broker is back, the dropped Temperatures come back from history without
    the journal dropping anything again (before: the read-back overflowed it again and
    again, each time under new numbers), and every sequence number of both topics either
    arrives or is named: by the late value given back under a new number (`replaces`) or by
    a gap record (`seqs`); no change arrives under two numbers."""
    caplog.set_level(logging.WARNING)
    broker = mosquitto_persistent
    temperature = [float(v) for v in range(10_000, 11_500)]
    spindle = [float(v) for v in range(20_000, 21_500)]
    async with bound_journal_broker_down(fresh_server, broker, tmp_path) as (bridge, recorder):
        sink = bridge.sinks[0]
        await asyncio.to_thread(fresh_server.set_values, [
            ("Press1", name, value) for pair in zip(spindle, temperature, strict=True)
            for name, value in zip(("SpindleSpeed", "Temperature"), pair, strict=True)])
        await until(lambda: bridge.source.last_seen.values.get(TEMPERATURE)
                    == temperature[-1], 60)
        dropped = bridge.journal.stats()["dropped"]
        assert dropped > 1000
        await asyncio.to_thread(broker.start)
        messages = await settle(recorder, lambda m: set(temperature)
                                <= set(values(m, TEMPERATURE)), 60)
        await until(lambda: sink.stats()["pending"] == 0)
        after = bridge.journal.stats()["dropped"]
    assert after == dropped, f"the read-back overflowed the journal: {after - dropped} dropped"
    fulls = [r for r in caplog.records if "is full" in r.getMessage()]
    assert len(fulls) == 1, [r.getMessage() for r in fulls]
    for topic in (TEMPERATURE, SPINDLE):
        named, every = accounted(messages, topic)
        assert every <= named, f"{topic}: {sorted(every - named)[:10]} neither arrive nor named"
        changes = [(d["sourceTimestamp"], d["value"]) for d in documents(messages, topic).values()
                   if "gap" not in d]
        assert len(changes) == len(set(changes)), f"{topic}: a change under two numbers"


def test_values_sharing_a_source_time_with_the_first_live_value_after_a_sigkill_arrive(
    fresh_server: MachineryServer, mosquitto, tmp_path
) -> None:
    """While a SIGKILLed bridge is away the server historizes more changes than one history
    response holds (the bridge asks for 1,000 per node; asyncua's own history stores return
    at most that many and no continuation point), and the last few share one source time, as
    a simulator's step stamps them. The restarted bridge reads them all, page after page:
    none sharing that time with the first live value is lost."""
    recorder = MqttRecorder(mosquitto, "factory/#")
    state, log = tmp_path / "state", tmp_path / "bridge.log"
    bridge = start_bridge(fresh_server, mosquitto, state, log)
    start = datetime.now(UTC) + timedelta(seconds=5)
    # 1,000 changes a millisecond apart, then 6 at one time: the first response ends inside
    stamps = [start + timedelta(milliseconds=i) for i in range(998)]
    stamps += [start + timedelta(seconds=2)] * 6
    written = [float(v) for v in range(5000, 5000 + len(stamps))]
    try:
        recorder.wait_until(lambda m: values(m, TEMPERATURE))
        bridge.send_signal(signal.SIGKILL)
        bridge.wait(10)
        fresh_server.set_values([("Press1", "Temperature", v) for v in written], at=stamps)
        bridge = start_bridge(fresh_server, mosquitto, state, log)
        # in order per topic: once the last value is in, all before it are
        messages = recorder.wait_until(lambda m: written[-1] in values(m, TEMPERATURE), 60)
    finally:
        stop_bridge(bridge)
        recorder.close()
    documents = in_order(messages, TEMPERATURE)
    arrived = [d["value"] for d in documents if "gap" not in d]
    gaps = [d for d in documents if "gap" in d]
    assert not gaps and [v for v in arrived if v in written] == written, (
        sorted(set(written) - set(arrived))[:10], gaps)


async def test_a_sink_removed_from_the_configuration_is_forgotten(
    fresh_server: MachineryServer, mosquitto, victoria_metrics, tmp_path
) -> None:
    """A bridge ran with MQTT and the time series; the time series is taken out of its
    configuration. Its cursor must not hold rows any more: the journal does not grow while
    values flow and MQTT delivers them (before, the rows stayed until the size bound dropped
    them, which set off the recovery machinery)."""
    state = tmp_path / "state"
    both = bridge_config(fresh_server, mosquitto, state, influx__url=victoria_metrics.url)
    async with running(both) as bridge:
        await until(lambda: bridge.journal.stats()["appended"] > 0)
        assert set(bridge.journal.cursors) == {"mqtt", "timeseries"}
    only_mqtt = bridge_config(fresh_server, mosquitto, state)
    async with running(only_mqtt) as bridge:
        assert set(bridge.journal.cursors) == {"mqtt"}
        appended = bridge.journal.stats()["appended"]
        await asyncio.to_thread(fresh_server.set_values, [
            ("Press1", "Temperature", float(v)) for v in range(300, 500)])
        await until(lambda: bridge.journal.stats()["appended"] >= appended + 200)
        await until(lambda: bridge.sinks[0].stats()["pending"] == 0)
        bridge.journal.commit()
        assert bridge.journal.stats()["buffered"] == 0


async def test_rows_dropped_at_the_bound_while_in_flight_arrive_once(
    fresh_server: MachineryServer, mosquitto, tmp_path
) -> None:
    """The broker stalls (SIGSTOP: the connection stays up, PUBACKs stop) while the MQTT sink
    has the journal's rows in flight, and a burst pushes the journal (bound 200) past its
    bound: the rows in flight are dropped. When the broker resumes it confirms them: they
    were delivered, so they must not come back from history a second time (before: they
    did, under new numbers); the rows never sent do come back. Every change arrives exactly
    once and every `seq` arrives or is named."""
    recorder = MqttRecorder(mosquitto, "factory/#", session=True)
    config = bridge_config(fresh_server, mosquitto, tmp_path / "state",
                           **{"__journal_max_items": 200})
    first = [float(v) for v in range(30_000, 30_150)]
    burst = [float(v) for v in range(31_000, 31_300)]
    paused = False
    try:
        async with running(config) as bridge:
            sink = bridge.sinks[0]
            await settle(recorder, lambda m: values(m, TEMPERATURE))
            await until(lambda: sink.stats()["pending"] == 0)
            os.kill(mosquitto.pid, signal.SIGSTOP)
            paused = True
            published = sink.stats()["published"]
            await asyncio.to_thread(fresh_server.set_values,
                                    [("Press1", "Temperature", v) for v in first])
            await until(lambda: sink.stats()["published"] >= published + 40)  # in flight
            await asyncio.to_thread(fresh_server.set_values,
                                    [("Press1", "Temperature", v) for v in burst])
            await until(lambda: bridge.source.last_seen.values.get(TEMPERATURE) == burst[-1])
            assert bridge.journal.stats()["dropped"] > 0
            os.kill(mosquitto.pid, signal.SIGCONT)
            paused = False
            messages = await settle(recorder, lambda m: set(first + burst)
                                    <= set(values(m, TEMPERATURE)), 60)
            await until(lambda: sink.stats()["pending"] == 0)
            messages = await asyncio.to_thread(recorder.settle)
    finally:
        if paused:
            os.kill(mosquitto.pid, signal.SIGCONT)
        recorder.close()
    changes = [(d["sourceTimestamp"], d["value"])
               for d in documents(messages, TEMPERATURE).values() if "gap" not in d]
    twice = [change for change in set(changes) if changes.count(change) > 1]
    assert not twice, f"{len(twice)} changes arrived twice, e.g. {sorted(twice)[:3]}"
    named, every = accounted(messages, TEMPERATURE)
    assert every <= named, f"{sorted(every - named)[:10]} neither arrive nor named"
