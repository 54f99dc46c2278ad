"""The durable journal: sequence numbers, cursors, bounds, restarts and SIGKILL."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mqtt_bridge.journal import Dropped, Journal, JournalEntry, JournalError
from mqtt_bridge.journal import marks as journal_marks
from mqtt_bridge.journal import recent as journal_module
from mqtt_bridge.outputs.journal_sink import Outage
from mqtt_bridge.outputs.mqtt import payload
from mqtt_bridge.outputs.mqtt.settings import MqttSettings
from mqtt_bridge.outputs.mqtt.sink import MqttSink
from mqtt_bridge.outputs.timeseries.line_protocol import line
from mqtt_bridge.sample import EventSample, Gap, MachinePath, Sample
from tests.services import MqttRecorder

PRESS = MachinePath("acme", "plant1", "forming", "line1", "press1", "PressBrakeType")
LASER = MachinePath("acme", "plant1", "cutting", "line1", "laser1", "PunchLaserType")
T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def sample(machine: MachinePath, tag: str, value: object, i: int = 0) -> Sample:
    t = T0 + timedelta(milliseconds=i)
    return Sample(machine, "counters", tag, value, t, t, "Good", f"ns=2;s={tag}")


MQTT = payload.encode_text  # the encoders of the two outputs
LINE = line


def reports(lost: list[Dropped]) -> dict[str, tuple]:
    """`take_lost()` by key, each report without its key (one report per key here)."""
    assert len({d.key for d in lost}) == len(lost)
    return {d.key: tuple(d[:8]) for d in lost}


def value(entry: JournalEntry) -> object:
    """The sample value an entry carries, from its stored MQTT payload."""
    return json.loads(entry.text)["value"]


def test_sequence_numbers_count_per_key_and_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "bridge.journal"
    with Journal(path) as journal:
        journal.register("mqtt", MQTT)
        journal.append([sample(PRESS, "Parts", i, i) for i in range(3)])
        journal.append([sample(LASER, "Parts", 0), sample(PRESS, "Parts", 3, 3)])
    with Journal(path) as journal:
        journal.register("mqtt", MQTT)  # the encoder is code: given again at each start
        journal.append([sample(PRESS, "Parts", 4, 4), sample(LASER, "Parts", 1)])
        journal.commit()
        entries = journal.read("mqtt", limit=100)
    by_key: dict[str, list[tuple[int, object]]] = {}
    for entry in entries:
        by_key.setdefault(entry.key, []).append((entry.seq, value(entry)))
    assert by_key == {
        PRESS.topic("counters", "Parts"): [(1, 0), (2, 1), (3, 2), (4, 3), (5, 4)],
        LASER.topic("counters", "Parts"): [(1, 0), (2, 1)],
    }
    assert [e.rowid for e in entries] == sorted(e.rowid for e in entries)


def test_readers_see_only_committed_rows(tmp_path: Path) -> None:
    # Long commit interval: only explicit commits (or commit_items) make rows visible.
    with Journal(tmp_path / "j", commit_interval=3600, commit_items=10_000) as journal:
        journal.register("mqtt", MQTT)
        journal.append([sample(PRESS, "Parts", 1)])
        assert journal.read("mqtt", limit=10) == []
        journal.commit()
        assert [value(e) for e in journal.read("mqtt", limit=10)] == [1]


def test_rows_are_deleted_once_every_cursor_acknowledged_them(tmp_path: Path) -> None:
    path = tmp_path / "j"
    with Journal(path) as journal:
        journal.register("mqtt", MQTT)
        journal.register("timeseries", MQTT)
        journal.append([sample(PRESS, "Parts", i, i) for i in range(10)])
        journal.commit()
        rows = [e.rowid for e in journal.read("mqtt", limit=100)]
        journal.ack("mqtt", rows[-1])
        journal.ack("timeseries", rows[3])
        journal.commit()
        assert journal.pending("mqtt") == 0
        assert journal.pending("timeseries") == 6
        assert journal.stats()["buffered"] == 6
        assert [value(e) for e in journal.read("timeseries", limit=100)] == list(range(4, 10))
        # `after` lets a sink with entries in flight read past its acknowledged row.
        assert [value(e) for e in journal.read("timeseries", 2, after=rows[5])] == [6, 7]
    with Journal(path) as journal:  # cursor positions are durable
        assert journal.cursors == {"mqtt": rows[-1], "timeseries": rows[3]}
        assert [value(e) for e in journal.read("timeseries", limit=100)] == list(range(4, 10))
        journal.unregister("timeseries")
        journal.commit()
        assert journal.stats()["buffered"] == 0
    with Journal(path) as journal, pytest.raises(KeyError, match="not registered"):
        journal.read("nobody", 1)


def test_a_full_journal_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    path = tmp_path / "j"
    with Journal(path, max_items=10) as journal:
        journal.register("mqtt", MQTT)
        for i in range(25):
            journal.append([sample(PRESS, "Parts", i, i)])
        journal.commit()
        assert journal.stats() == {"buffered": 10, "dropped": 15, "appended": 25,
                                   "unwritten": 0}
        entries = journal.read("mqtt", limit=100)
        assert [e.seq for e in entries] == list(range(16, 26))
        assert [value(e) for e in entries] == list(range(15, 25))
    with Journal(path, max_items=10) as journal:  # the counts are durable too
        assert journal.stats() == {"buffered": 10, "dropped": 15, "appended": 25,
                                   "unwritten": 0}


def test_a_drop_at_the_bound_reports_each_keys_numbers_and_source_times(
    tmp_path: Path
) -> None:
    """Rows dropped from the file and from memory alike: per key, the sequence numbers and
    the span of source times lost, once the journal has room again (and once)."""
    path = tmp_path / "j"
    with Journal(path, max_items=10, commit_items=5) as journal:
        journal.register("mqtt", MQTT)
        for i in range(20):  # half in the file by now, half only in memory when dropped
            journal.append([sample(PRESS, "Parts", i, i), sample(LASER, "Parts", i, 100 + i)])
        assert journal.take_lost() == []  # still dropping: the episode has not ended
        journal.ack("mqtt", journal.last_rowid)
        journal.commit()
        journal.append([sample(PRESS, "Parts", 20, 20)])  # room again
        lost = reports(journal.take_lost())
        assert journal.take_lost() == []
    ms = timedelta(milliseconds=1)
    assert lost == {
        PRESS.topic("counters", "Parts"): (1, 15, 15, T0, T0 + 14 * ms, 15, 1, 1),
        LASER.topic("counters", "Parts"): (1, 15, 15, T0 + 100 * ms, T0 + 114 * ms, 15, 1, 1),
    }
    assert lost[PRESS.topic("counters", "Parts")][3].tzinfo is not None


def test_a_drop_counts_the_values_at_its_boundary_times(tmp_path: Path) -> None:
    """Values sharing a source time with values delivered before or after the drop: the
    journal says how many of those at each end were dropped (a gap row has no time)."""
    same = [sample(PRESS, "Parts", i, 0) for i in range(3)]  # three at T0
    late = [sample(PRESS, "Parts", i, 5) for i in range(3, 6)]  # three at T0 + 5 ms
    with Journal(tmp_path / "j", max_items=2) as journal:
        journal.register("mqtt", MQTT)
        journal.append([same[0]])
        journal.ack("mqtt", journal.last_rowid)  # delivered: not dropped
        journal.commit()
        journal.append([*same[1:], Gap(PRESS, "counters", "Parts", None, None, "why"),
                        *late])  # all but the last two dropped
        journal.ack("mqtt", journal.last_rowid)
        journal.commit()
        journal.append([sample(PRESS, "Parts", 9, 9)])
        lost = reports(journal.take_lost())[PRESS.topic("counters", "Parts")]
    assert lost == (2, 5, 4, T0, T0 + timedelta(milliseconds=5), 3, 2, 1)


def test_a_late_value_is_not_the_variables_current_value(tmp_path: Path) -> None:
    """A value given back after newer ones (from history) is journaled, but not as the value
    an output keeps as the variable's last (MQTT: not retained)."""
    late = Sample(PRESS, "counters", "Parts", 1, T0, T0, "Good", late=True)
    with Journal(tmp_path / "j") as journal:
        journal.register("mqtt", MQTT)
        journal.append([sample(PRESS, "Parts", 2, 2), late])
        journal.commit()
        entries = journal.read("mqtt", limit=10)
    assert [(e.seq, e.is_value, value(e)) for e in entries] == [(1, True, 2), (2, False, 1)]


def test_a_journal_without_source_times_gets_the_column(tmp_path: Path) -> None:
    """A journal of the version before: its rows stay readable; their drops have no times."""
    with sqlite3.connect(tmp_path / "j") as db:
        db.executescript("CREATE TABLE entries (rowid INTEGER PRIMARY KEY AUTOINCREMENT,"
                         " key TEXT NOT NULL, seq INTEGER NOT NULL, is_value INTEGER NOT NULL);"
                         "INSERT INTO entries (key, seq, is_value) VALUES ('a/b', 1, 1);"
                         # its sink had not confirmed the row (one it had would go unreported)
                         "CREATE TABLE cursors (name TEXT PRIMARY KEY, acked INTEGER NOT NULL);"
                         "INSERT INTO cursors VALUES ('mqtt', 0);")
    with Journal(tmp_path / "j", max_items=1) as journal:
        journal.register("mqtt", MQTT)
        journal.append([sample(PRESS, "Parts", 1, 1)])  # drops the old row
        journal.ack("mqtt", journal.last_rowid)
        journal.commit()
        journal.append([sample(PRESS, "Parts", 2, 2)])
        assert reports(journal.take_lost()) == {"a/b": (1, 1, 1, None, None, 0, 0, 0)}


def test_items_are_stored_encoded_once_as_readable_text(tmp_path: Path) -> None:
    cest = timezone(timedelta(hours=2))
    items = [
        Sample(PRESS, "state", "CurrentState", "Executing", T0, None, "Good", "ns=3;i=5"),
        Sample(PRESS, "energy", "Power", math.inf, datetime(2026, 1, 1, 8, tzinfo=cest), T0,
               "UncertainLastUsableValue"),
        Sample(PRESS, "monitoring", "Profile", [1.5, 2.5, None], None, None, "Good"),
        Sample(PRESS, "monitoring", "Temp+#", 1.5, T0, T0, "Good"),
        Sample(PRESS, "ident", "Blob", b"\x00\xff", None, None, "Good"),
        EventSample(PRESS, "AlarmConditionType", T0, 800, "Hydraulic pressure low",
                    {"ConditionId": "ns=3;i=99", "ActiveState": True}),
    ]
    with Journal(tmp_path / "j") as journal:
        journal.register("mqtt", MQTT)
        journal.register("timeseries", LINE)
        journal.append(items)
        journal.commit()
        entries = journal.read("mqtt", limit=100)
        lines = journal.read("timeseries", limit=100)
        texts = journal.read_texts("timeseries", limit=100)
    # What each sink sends, built once at append by its own encoder (seq 1: each item is the
    # first of its key).
    assert [(e.key, e.seq, e.is_value, e.text) for e in entries] == [
        (item.key, 1, isinstance(item, Sample), payload.encode_text(item, 1)) for item in items
    ]
    assert [e.text for e in lines] == [line(item, 1) for item in items]
    # The sinks' hot path reads only what it sends, same values.
    assert texts == [(e.rowid, e.text) for e in lines]
    assert json.loads(entries[4].text)["value"] == "AP8="  # bytes become base64 text
    assert json.loads(entries[1].text)["sourceTimestamp"] == "2026-01-01T06:00:00.000000Z"
    with sqlite3.connect(tmp_path / "j") as db:  # no pickle: any SQLite tool can read it
        text, row = db.execute(
            "SELECT text_mqtt, text_timeseries FROM entries ORDER BY rowid DESC LIMIT 1"
        ).fetchone()
        # no sink's wire format in the journal: a column of text per registered sink
        assert [r[1] for r in db.execute("PRAGMA table_info(entries)")] == \
            ["rowid", "key", "seq", "is_value", "time", "text_mqtt", "text_timeseries"]
    assert json.loads(text)["message"] == "Hydraulic pressure low"
    assert row.startswith("alarms,")


PARTS = PRESS.topic("counters", "Parts")


def test_a_third_output_registers_its_own_encoder_without_a_schema_change(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j"
    with Journal(path) as journal:
        journal.register("mqtt", MQTT)
        journal.append([sample(PRESS, "Parts", 0)])
        journal.register("csv", lambda item, seq: f"{item.key},{seq},{item.value}")
        journal.append([sample(PRESS, "Parts", 1, 1)])
        journal.commit()
        # a new cursor starts after the newest row: older rows were encoded without it
        assert [e.text for e in journal.read("csv", 10)] == [f"{PARTS},2,1"]
        assert [value(e) for e in journal.read("mqtt", 10)] == [0, 1]
    with Journal(path) as journal:  # the file alone serves the same
        assert [e.text for e in journal.read("csv", 10)] == [f"{PARTS},2,1"]
        with pytest.raises(ValueError, match="journal cursor"):
            journal.register("no spaces; DROP TABLE entries", MQTT)


def test_reads_from_memory_and_from_the_file_give_the_same_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The newest rows are served from memory; older ones (and all after a reopen) from the
    file. Whichever serves a read, it gives the same committed entries."""
    monkeypatch.setattr(journal_module, "RECENT_ROWS", 5)
    path = tmp_path / "j"
    with Journal(path, commit_interval=3600) as journal:
        journal.register("mqtt", MQTT)
        for start in range(0, 12, 3):
            journal.append([sample(PRESS, "Parts", i, i) for i in range(start, start + 3)])
        journal.append([sample(LASER, "Parts", 0)])  # not committed: visible to no reader
        assert journal.read("mqtt", limit=100) == []
        journal.commit()
        journal.append([sample(LASER, "Parts", 1)])
        last = journal.last_rowid
        reads = {
            (after, limit): journal.read("mqtt", limit, after=after)
            for after in range(0, last + 1) for limit in (1, 4, 100)
        }
        columns = journal.read_texts("mqtt", limit=100, after=last - 4)
        assert [value(e) for e in reads[(last - 4, 100)]] == [10, 11, 0]  # from memory
        assert [value(e) for e in reads[(0, 100)]] == [*range(12), 0]  # from the file
    with Journal(path) as journal:  # the file alone; it has the last row committed now
        for (after, limit), entries in reads.items():
            expected = journal.read("mqtt", min(limit, last - 1 - after), after=after)
            assert entries == expected, (after, limit)
        assert columns == [(e.rowid, e.text) for e in journal.read("mqtt", 3, after=last - 4)]


def test_pending_counts_unacknowledged_rows_across_acks_and_drops(tmp_path: Path) -> None:
    with Journal(tmp_path / "j", max_items=10) as journal:
        journal.register("mqtt", MQTT)
        journal.register("timeseries", LINE)
        assert journal.pending("mqtt") == 0
        journal.append([sample(PRESS, "Parts", i, i) for i in range(6)])
        journal.commit()
        rows = [e.rowid for e in journal.read("mqtt", limit=100)]
        journal.ack("mqtt", rows[1])
        assert (journal.pending("mqtt"), journal.pending("timeseries")) == (4, 6)
        journal.append([sample(PRESS, "Parts", i, i) for i in range(6, 14)])  # drops 4
        journal.commit()
        assert (journal.pending("mqtt"), journal.pending("timeseries")) == (10, 10)
        journal.ack("mqtt", journal.last_rowid)
        journal.ack("timeseries", journal.last_rowid - 3)
        journal.commit()
        assert (journal.pending("mqtt"), journal.pending("timeseries")) == (0, 3)
        with sqlite3.connect(tmp_path / "j") as db:
            assert db.execute("SELECT count(*) FROM entries").fetchone()[0] == 3


def test_a_journal_in_the_old_format_is_refused_not_misread(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "old") as db:
        db.execute("CREATE TABLE entries (rowid INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT,"
                   " seq INTEGER, body TEXT)")
    for _attempt in range(2):  # the refusal releases the lock: the same error again
        with pytest.raises(JournalError, match=r"old: written by an older bridge version"):
            Journal(tmp_path / "old")


def test_a_journal_is_used_by_one_process_and_must_be_sqlite(tmp_path: Path) -> None:
    with Journal(tmp_path / "j"), pytest.raises(JournalError, match="in use by another"):
        Journal(tmp_path / "j")
    bogus = tmp_path / "not-a-journal"
    bogus.write_text("hello, this is not SQLite" * 100)
    with pytest.raises(JournalError, match=r"not-a-journal: not a usable SQLite journal"):
        Journal(bogus)
    with pytest.raises(JournalError, match="max_items"):
        Journal(tmp_path / "k", max_items=0)


_APPENDER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    from mqtt_bridge.journal import Journal
    from mqtt_bridge.outputs.mqtt.payload import encode_text
    from mqtt_bridge.sample import MachinePath, Sample

    press = MachinePath("acme", "plant1", "forming", "line1", "press1", "PressBrakeType")
    journal = Journal(sys.argv[1], commit_interval=3600, commit_items=10**9)
    journal.register("mqtt", encode_text)
    appended = 0
    for batch in range(20):
        journal.append(
            Sample(press, "counters", f"Tag{i % 3}", batch * 10 + i, datetime.now(UTC), None,
                   "Good")
            for i in range(10)
        )
        appended += 10
        if batch == 14:
            journal.commit()
            print(appended, flush=True)
    print("uncommitted", flush=True)
    time.sleep(600)  # until killed
    """
)


async def test_items_committed_before_a_sigkill_are_delivered_by_the_next_bridge(
    tmp_path: Path, mosquitto
) -> None:
    path = tmp_path / "bridge.journal"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    with subprocess.Popen(
        [sys.executable, "-c", _APPENDER, str(path)], stdout=subprocess.PIPE, text=True, env=env
    ) as bridge:
        committed = int(bridge.stdout.readline())
        assert bridge.stdout.readline().strip() == "uncommitted"
        bridge.send_signal(signal.SIGKILL)
        assert bridge.wait() == -signal.SIGKILL
    assert committed == 150

    recorder = MqttRecorder(mosquitto, "acme/#")
    try:
        with Journal(path) as journal:
            # The 50 appended after the last commit are lost with the process; nothing else.
            assert journal.stats()["buffered"] == committed
            async with MqttSink(journal, MqttSettings(url=mosquitto.url)) as sink:
                assert await sink.flush(timeout=30)
            messages = recorder.wait_until(lambda m: len(m) >= committed)
    finally:
        recorder.close()
    seqs: dict[str, list[int]] = {}
    for message in messages:
        seqs.setdefault(message.topic, []).append(message.json()["seq"])
    # 15 committed batches of 10: Tag0 got 4 per batch, Tag1 and Tag2 3 each.
    assert seqs == {
        PRESS.topic("counters", tag): list(range(1, count + 1))
        for tag, count in (("Tag0", 60), ("Tag1", 45), ("Tag2", 45))
    }


class _FullDisk:
    """The journal's SQLite connection on a disk that is full: every write fails as SQLite
    fails then, until `space_returns()`. (`test_bridge_faults.py` fills a real tmpfs where it
    can mount one; this runs everywhere.)"""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self.full = True

    def _check(self, sql: str) -> None:
        if self.full and sql.lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            raise sqlite3.OperationalError("database or disk is full")

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        self._check(sql)
        return self._connection.execute(sql, *args)

    def executemany(self, sql: str, *args: object) -> sqlite3.Cursor:
        self._check(sql)
        return self._connection.executemany(sql, *args)

    def close(self) -> None:
        self._connection.close()


def test_rows_wait_in_memory_while_the_file_cannot_be_written(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    with Journal(tmp_path / "j", commit_interval=3600) as journal:
        journal.register("mqtt", MQTT)
        disk = journal._file._db = _FullDisk(journal._file._db)
        journal.append([sample(PRESS, "Parts", i, i) for i in range(3)])
        assert journal.commit() is False and journal.read("mqtt", 10) == []
        journal.append([sample(PRESS, "Parts", i, i) for i in range(3, 5)])
        assert journal.commit() is False and journal.stats()["unwritten"] == 5
        errors = [r for r in caplog.records if r.levelname == "ERROR"]
        assert len(errors) == 1 and "cannot write" in errors[0].getMessage()  # once
        disk.full = False  # space returns
        assert journal.commit() is True
        entries = journal.read("mqtt", 10)
        assert [(e.seq, value(e)) for e in entries] == [(i + 1, i) for i in range(5)]
        assert any("writing works again" in r.getMessage() for r in caplog.records)
    with Journal(tmp_path / "j") as journal:  # and they are in the file
        journal.register("mqtt", MQTT)
        assert [value(e) for e in journal.read("mqtt", 10)] == list(range(5))


def test_what_waits_for_a_sink_says_how_much_a_full_disk_holds_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A peer back after an outage while the disk is full: the log line says that nothing is
    readable yet and how much waits for the journal, not that it is being delivered."""
    caplog.set_level("INFO")
    with Journal(tmp_path / "j", commit_interval=3600) as journal:
        journal.register("mqtt", MQTT)
        journal.append([sample(PRESS, "Parts", i, i) for i in range(2)])
        assert journal.commit() is True
        disk = journal._file._db = _FullDisk(journal._file._db)
        journal.append([sample(PRESS, "Parts", i, i) for i in range(2, 7)])
        assert journal.commit() is False
        assert journal.waiting("mqtt") == (2, 5)
        outage = Outage("MQTT broker x")
        outage.failed("refused")
        outage.over(journal.waiting("mqtt"))
        (line_,) = [r.getMessage() for r in caplog.records if "available again" in r.getMessage()]
        assert "delivering the 2 entries" in line_ and "5 more wait until the journal" in line_
        disk.full = False
        assert journal.commit() is True and journal.waiting("mqtt") == (7, 0)


class _SlowDisk:
    """The journal's SQLite connection on a disk that stalls: the first INSERT of a commit
    waits until `go` is set, then succeeds, or fails as a full disk if `fail`. (A real disk
    cannot be made to stall on demand.)"""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self.writing = threading.Event()  # a commit is inside its write
        self.go = threading.Event()
        self.fail = False

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        return self._connection.execute(sql, *args)

    def executemany(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql.startswith("INSERT INTO entries"):
            self.writing.set()
            assert self.go.wait(10)
            if self.fail:
                raise sqlite3.OperationalError("database or disk is full")
        return self._connection.executemany(sql, *args)

    def close(self) -> None:
        self._connection.close()


def _commit_in_background(journal: Journal) -> tuple[threading.Thread, list[bool]]:
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(journal.commit()))
    thread.start()
    return thread, result


def test_appending_and_reading_do_not_wait_for_a_commit_in_progress(tmp_path: Path) -> None:
    """The commit thread writes without the lock the source appends under: a stalled write
    holds up neither `append` nor a sink's read; rows appended meanwhile follow in order."""
    with Journal(tmp_path / "j", commit_interval=3600) as journal:
        journal.register("mqtt", MQTT)
        disk = journal._file._db = _SlowDisk(journal._file._db)
        journal.append([sample(PRESS, "Parts", i, i) for i in range(3)])
        thread, result = _commit_in_background(journal)
        assert disk.writing.wait(10)
        # while the write stalls: append, read and the stats answer at once
        journal.append([sample(PRESS, "Parts", i, i) for i in range(3, 5)])
        assert journal.read("mqtt", 10) == []  # nothing committed yet
        assert journal.stats()["unwritten"] == 5
        disk.go.set()
        thread.join(10)
        assert result == [True]
        assert [value(e) for e in journal.read("mqtt", 10)] == [0, 1, 2]  # the first batch
        assert journal.commit() is True
        assert [(e.seq, value(e)) for e in journal.read("mqtt", 10)] == [
            (i + 1, i) for i in range(5)]


def test_a_failed_commit_puts_its_batch_back_before_what_came_meanwhile(
    tmp_path: Path
) -> None:
    """A write that fails after rows were appended, marks set and rows dropped at the bound
    meanwhile: the batch is pending again, before the newer rows; what was dropped stays
    dropped and is reported; nothing else is lost or renumbered."""
    path = tmp_path / "j"
    with Journal(path, max_items=6, commit_interval=3600) as journal:
        journal.register("mqtt", MQTT)
        disk = journal._file._db = _SlowDisk(journal._file._db)
        journal.append([sample(PRESS, "Parts", i, i) for i in range(4)], marks={"m": 1})
        disk.fail = True
        thread, result = _commit_in_background(journal)
        assert disk.writing.wait(10)
        journal.append([sample(PRESS, "Parts", i, i) for i in range(4, 8)], marks={"m": 2})
        disk.go.set()
        thread.join(10)
        assert result == [False]
        assert journal.stats() == {"buffered": 6, "dropped": 2, "appended": 8, "unwritten": 6}
        disk.fail = False
        assert journal.commit() is True
        assert [(e.seq, value(e)) for e in journal.read("mqtt", 10)] == [
            (i + 1, i) for i in range(2, 8)]
        assert journal.marks() == {"m": 2}
        journal.ack("mqtt", journal.last_rowid)
        journal.commit()
        journal.append([sample(PRESS, "Parts", 8, 8)])  # room again: the drop is reported
        assert reports(journal.take_lost())[PRESS.topic("counters", "Parts")][:3] == (1, 2, 2)
    with Journal(path, max_items=6) as journal:
        journal.register("mqtt", MQTT)
        assert journal.marks() == {"m": 2}


def test_sequences_stay_whole_while_commits_run_beside_appends(tmp_path: Path) -> None:
    """Appends from one thread, commits from the commit thread and another, reads beside them:
    after reopening, every key's numbers run 1..N once each, in appended order."""
    path = tmp_path / "j"
    keys = ["Tag0", "Tag1", "Tag2"]
    rounds = 400
    with Journal(path, commit_interval=0.001, commit_items=7) as journal:
        journal.register("mqtt", MQTT)
        stop = threading.Event()

        def commit_and_read() -> None:
            while not stop.is_set():
                journal.commit()
                journal.read("mqtt", 50)

        helper = threading.Thread(target=commit_and_read)
        helper.start()
        try:
            for i in range(rounds):
                journal.append([sample(PRESS, keys[i % 3], i, i), sample(PRESS, "Tag0", -i, i)])
        finally:
            stop.set()
            helper.join(10)
    with Journal(path) as journal:
        journal.register("mqtt", MQTT)
        entries = journal.read("mqtt", 10 * rounds)
    by_key: dict[str, list[tuple[int, object]]] = {}
    for entry in entries:
        by_key.setdefault(entry.key, []).append((entry.seq, value(entry)))
    assert len(entries) == 2 * rounds
    for key, got in by_key.items():
        assert [seq for seq, _ in got] == list(range(1, len(got) + 1)), key
    tag0 = [v for _, v in by_key[PRESS.topic("counters", "Tag0")]]
    expected = [v for i in range(rounds) for v in ([i, -i] if i % 3 == 0 else [-i])]
    assert tag0 == expected


def test_a_drop_report_stays_in_the_file_until_what_settles_it_is_appended(
    tmp_path: Path
) -> None:
    """A report taken but not settled (the bridge stopped before it read the values again)
    is handed out again by the next journal; appending with `settles=` forgets it in the
    same commit as the items."""
    path = tmp_path / "j"
    with Journal(path, max_items=3) as journal:
        journal.register("mqtt", MQTT)
        journal.append([sample(PRESS, "Parts", i, i) for i in range(5)])  # 2 dropped
        journal.ack("mqtt", journal.last_rowid)
        journal.commit()
        journal.append([sample(PRESS, "Parts", 5, 5)])  # room again: the episode ended
        (taken,) = journal.take_lost()
        assert journal.take_lost() == []  # once per process
    with Journal(path, max_items=3) as journal:
        journal.register("mqtt", MQTT)
        (again,) = journal.take_lost()
        assert again == taken and again.key == PRESS.topic("counters", "Parts")
        assert again[:3] == (1, 2, 2) and again.since == T0 and again.until.tzinfo is not None
        gap = Gap(PRESS, "counters", "Parts", again.since, again.until, "named")
        journal.append([gap], settles=[again])
    with Journal(path, max_items=3) as journal:
        journal.register("mqtt", MQTT)
        assert journal.take_lost() == []
        assert [json.loads(e.text)["seq"] for e in journal.read("mqtt", 10)] == [6, 7]


_DROPPER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    from mqtt_bridge.journal import Journal
    from mqtt_bridge.outputs.mqtt.payload import encode_text
    from mqtt_bridge.sample import MachinePath, Sample

    press = MachinePath("acme", "plant1", "forming", "line1", "press1", "PressBrakeType")
    journal = Journal(sys.argv[1], max_items=5, commit_interval=3600, commit_items=10**9)
    journal.register("mqtt", encode_text)
    journal.append(Sample(press, "counters", "Parts", i, datetime.now(UTC), None, "Good")
                   for i in range(8))  # 3 dropped: still dropping, nothing reported yet
    journal.commit()
    print("committed", flush=True)
    time.sleep(600)  # until killed
    """
)


def test_a_drop_survives_a_sigkill_and_is_reported_by_the_next_journal(tmp_path: Path) -> None:
    path = tmp_path / "j"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    with subprocess.Popen([sys.executable, "-c", _DROPPER, str(path)], stdout=subprocess.PIPE,
                          text=True, env=env) as dropper:
        assert dropper.stdout.readline().strip() == "committed"
        dropper.send_signal(signal.SIGKILL)
        assert dropper.wait() == -signal.SIGKILL
    with Journal(path, max_items=5) as journal:
        journal.register("mqtt", MQTT)
        (report,) = journal.take_lost()
        assert (report.key, *report[:3], report.values) == (
            PRESS.topic("counters", "Parts"), 1, 3, 3, 3)
        assert [json.loads(e.text)["value"] for e in journal.read("mqtt", 10)] == [3, 4, 5, 6, 7]


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(),
                    st.lists(st.one_of(st.integers(), st.text(), st.floats()), max_size=3))
_STAMPS = st.datetimes(timezones=st.one_of(st.just(UTC), st.timezones(), st.none()))


@given(stamp=_STAMPS, value=_VALUES)
def test_a_mark_is_stored_as_json_gives_it(stamp: datetime, value: object) -> None:
    """The fast path for (source time, value) marks writes what json.dumps writes."""
    mark = (stamp, value)
    assert journal_marks.mark_text(mark) == json.dumps(mark, default=journal_marks._plain)


def test_a_journal_with_a_table_of_texts_per_sink_is_carried_over(tmp_path: Path) -> None:
    """The layout of the version before (a table of texts per cursor): its rows keep their
    texts, in the cursor's column now, and the tables are gone."""
    path = tmp_path / "j"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE entries (rowid INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL,"
            " seq INTEGER NOT NULL, is_value INTEGER NOT NULL, time INTEGER);"
            "CREATE TABLE cursors (name TEXT PRIMARY KEY, acked INTEGER NOT NULL);"
            'CREATE TABLE "texts_mqtt" (rowid INTEGER PRIMARY KEY, text TEXT NOT NULL);'
            "INSERT INTO cursors VALUES ('mqtt', 0);"
            "INSERT INTO entries (key, seq, is_value, time)"
            " VALUES ('a/b', 1, 1, 0), ('a/b', 2, 1, 0);"
            """INSERT INTO "texts_mqtt" VALUES (1, '{"value": 1}'), (2, '{"value": 2}');""")
    with Journal(path) as journal:
        journal.register("mqtt", MQTT)
        journal.append([sample(PRESS, "Parts", 3, 3)])
        journal.commit()
        assert [(e.key, e.seq, value(e)) for e in journal.read("mqtt", 10)] == [
            ("a/b", 1, 1), ("a/b", 2, 2), (PRESS.topic("counters", "Parts"), 1, 3)]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'texts_mqtt'"
                          ).fetchall() == []


def test_drop_reports_are_pushed_when_the_outputs_make_room(tmp_path: Path) -> None:
    """Whoever recovers drops is told when a drop episode ends (here by the acknowledgement
    that makes room, with nothing appended after it) and, at start, of reports a previous
    run left unsettled: nobody polls."""
    told: list[int] = []
    with Journal(tmp_path / "j", max_items=3, commit_interval=3600) as journal:
        journal.register("mqtt", MQTT)
        journal.on_lost(lambda: told.append(1))
        journal.append([sample(PRESS, "Parts", i, i) for i in range(5)])  # drops 2
        journal.commit()
        assert told == [] and journal.take_lost() == []  # still dropping
        journal.ack("mqtt", journal.last_rowid)
        journal.commit()
        assert told == [1]
        assert reports(journal.take_lost())[PRESS.topic("counters", "Parts")][:3] == (1, 2, 2)
    with Journal(tmp_path / "j", max_items=3) as journal:  # not settled: told again at start
        journal.register("mqtt", MQTT)
        journal.on_lost(lambda: told.append(2))
        assert told == [1, 2]


def test_a_row_dropped_in_flight_is_reported_only_if_its_sink_does_not_deliver_it(
    tmp_path: Path,
) -> None:
    """Issue 23: a live append at the bound dropped rows the sink had sent and not yet
    confirmed, and reported them: once confirmed they were delivered, and came back from
    history a second time. A row dropped in flight is held: confirmed, it is left out of the
    report; read again from before it (a new connection), it is lost and reported; killed
    in between, the report stored names it (at worst a second delivery, never a loss)."""
    path = tmp_path / "j"
    with Journal(path, max_items=4) as journal:
        journal.register("mqtt", MQTT)
        journal.append([sample(PRESS, "T", v, v) for v in range(4)])
        journal.commit()
        sent = journal.read("mqtt", limit=4)  # in flight
        journal.append([sample(PRESS, "T", v, v) for v in range(4, 6)])  # drops seq 1, 2
        journal.commit()
        stored = dict(sqlite3.connect(path).execute("SELECT key, report FROM lost"))
        assert [json.loads(r)[:3] for r in stored.values()] == [[1, 2, 2]]
        journal.ack("mqtt", sent[-1].rowid)  # the broker confirmed all four
        journal.commit()
        assert journal.take_lost() == [] and journal.stats()["dropped"] == 2
        assert sqlite3.connect(path).execute("SELECT count(*) FROM lost").fetchone() == (0,)
        # now in flight again: seq 5, 6; dropped, then the sink reconnects and reads anew
        again = journal.read("mqtt", limit=4)
        journal.append([sample(PRESS, "T", v, v) for v in range(6, 10)])  # drops 5, 6
        assert [e.seq for e in again] == [5, 6]
        assert [e.seq for e in journal.read("mqtt", limit=10)] == []  # rewound: not committed
        journal.commit()
        journal.ack("mqtt", journal.read("mqtt", limit=10)[-1].rowid)
        journal.commit()
        assert reports(journal.take_lost()) == {
            PRESS.topic("counters", "T"): (5, 6, 2, T0 + timedelta(milliseconds=4),
                                           T0 + timedelta(milliseconds=5), 2, 1, 1)}
        # acknowledged, not yet committed (so still kept) when the bound drops them: delivered
        journal.append([sample(PRESS, "T", v, v) for v in range(10, 14)])
        journal.commit()
        dropped = journal.stats()["dropped"]
        journal.ack("mqtt", journal.read("mqtt", limit=10)[-1].rowid)
        journal.append([sample(PRESS, "T", v, v) for v in range(14, 18)])
        journal.commit()
        journal.ack("mqtt", journal.read("mqtt", limit=10)[-1].rowid)
        journal.commit()  # room again: the episode ends
        assert journal.take_lost() == [] and journal.stats()["dropped"] == dropped + 4
