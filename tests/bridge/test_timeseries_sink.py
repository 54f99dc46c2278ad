"""The time-series sink against a real VictoriaMetrics (InfluxDB `/api/v2/write`), and the line
protocol it writes."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from influxdb_client import Point, WritePrecision
from influxdb_client.rest import ApiException

from mqtt_bridge.journal import Journal
from mqtt_bridge.outputs.timeseries import sink as timeseries_sink
from mqtt_bridge.outputs.timeseries.line_protocol import line, measurement
from mqtt_bridge.outputs.timeseries.settings import InfluxSettings
from mqtt_bridge.outputs.timeseries.sink import TimeSeriesSink
from mqtt_bridge.sample import EventSample, Gap, MachinePath, Sample
from mqtt_bridge.settings import SettingsError

PRESS = MachinePath("acme", "plant 1", "forming", "line1", "press1", "PressBrakeType")
COBOT = MachinePath("acme", "plant 1", "assembly", "line1", "cobot1", "CobotStationType")


def ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


async def test_samples_reach_the_time_series_with_tags_fields_and_source_times(
    tmp_path: Path, victoria_metrics
) -> None:
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    server_time = t0 + timedelta(hours=1)  # must not be used when there is a source time
    parts = [
        Sample(PRESS, "counters", "Parts", i, t0 + timedelta(seconds=i), server_time, "Good")
        for i in range(1, 21)
    ]
    others = [
        Sample(PRESS, "energy", "Power", 3.5, t0, server_time, "Good"),
        Sample(PRESS, "state", "Executing", True, t0, server_time, "Good"),
        Sample(COBOT, "kpi", "OEE", 0.82, None, t0 + timedelta(seconds=7), "Good"),
        Sample(COBOT, "kpi", "Missing", None, t0, t0, "BadNoData"),
    ]
    alarm = EventSample(COBOT, "AlarmConditionType", t0, 700, 'Protective stop "zone 2"', {})
    settings = InfluxSettings(url=victoria_metrics.url, batch_size=7, flush_interval=0)
    with Journal(tmp_path / "j") as journal:
        async with TimeSeriesSink(journal, settings) as sink:
            journal.append([*parts, *others, alarm])
            assert await sink.flush(timeout=30)
            stats = sink.stats()
    assert stats["written"] == 25 and stats["pending"] == 0 and stats["failures"] == 0

    found = victoria_metrics.wait_for_samples('{enterprise="acme"}', 50)
    series = {s["metric"]["__name__"] + "|" + s["metric"]["cell"]: s for s in found}
    press_tags = {
        "enterprise": "acme", "site": "plant 1", "area": "forming", "line": "line1",
        "cell": "press1", "cell_type": "PressBrakeType",
    }
    counters = series["counters_Parts|press1"]
    assert counters["metric"] == {"__name__": "counters_Parts", **press_tags}
    assert counters["values"] == list(range(1, 21))
    assert counters["timestamps"] == [ms(p.source_time) for p in parts]  # source time
    assert series["counters_Parts_seq|press1"]["values"] == list(range(1, 21))
    assert series["energy_Power|press1"]["values"] == [3.5]
    assert series["machine_state_Executing|press1"]["values"] == [1]  # true
    oee = series["kpi_OEE|cobot1"]
    assert oee["values"] == [0.82]
    assert oee["timestamps"] == [ms(t0 + timedelta(seconds=7))]  # server time without source
    assert "kpi_Missing|cobot1" not in series  # no value, only its sequence number
    assert series["kpi_Missing_seq|cobot1"]["values"] == [1]
    severity = series["alarms_severity|cobot1"]
    assert severity["values"] == [700]
    assert severity["metric"]["event_type"] == "AlarmConditionType"
    assert severity["metric"]["area"] == "assembly"


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        ("Parts", 42),
        ("Temp C", -1.5e-7),
        ("a,b=c", True),
        ('say "hi"', 'back\\slash and "quotes"'),
        ("tab\tnew\nline", "multi\nline"),
    ],
)
def test_line_protocol_escapes_like_influxdb_client(tag: str, value: object) -> None:
    odd = MachinePath("ac me", "site,1", "area=2", "li\\ne\\", "cell 1", "Type")
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    sample = Sample(odd, "counters", tag, value, when, None, "Good")
    expected = (
        Point("counters").tag("enterprise", odd.enterprise).tag("site", odd.site)
        .tag("area", odd.area).tag("line", odd.line).tag("cell", odd.cell)
        .tag("cell_type", odd.cell_type).field(tag, value).field(f"{tag}_seq", 9)
        .time(when, WritePrecision.NS).to_line_protocol()
    )
    assert line(sample, seq=9) == expected


@given(st.text(max_size=40))
def test_any_string_value_escapes_like_influxdb_client(value: str) -> None:
    """The fast escaping of string fields (two str.replace) writes what influxdb-client does."""
    press = MachinePath("acme", "s", "a", "l", "press", "Type")
    when = datetime(2026, 1, 2, tzinfo=UTC)
    expected = (
        Point("values").tag("area", "a").tag("cell", "press").tag("cell_type", "Type")
        .tag("enterprise", "acme").tag("line", "l").tag("site", "s").field("Note", value)
        .field("Note_seq", 1).time(when, WritePrecision.NS).to_line_protocol()
    )
    assert line(Sample(press, "values", "Note", value, when, None, "Good"), seq=1) == expected


def test_measurements_per_concern() -> None:
    assert [measurement(g) for g in ("state", "counters", "energy", "KPI", "Tool Life!")] == [
        "machine_state", "counters", "energy", "kpi", "tool_life",
    ]


class _RejectingWriteApi:
    """Stands in for a database that rejects some lines (e.g. an InfluxDB field type conflict,
    HTTP 422): VictoriaMetrics cannot be made to reject a well-formed line on demand."""

    def __init__(self) -> None:
        self.accepted: list[str] = []

    def write(self, bucket: str, org: str, record: str, write_precision: str) -> None:
        lines = record.split("\n")
        if any("Bad=" in row for row in lines):
            raise ApiException(status=422, reason="field type conflict")
        self.accepted.extend(lines)


def test_rejected_lines_are_isolated_counted_and_skipped(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    with Journal(tmp_path / "j") as journal:
        sink = TimeSeriesSink(journal, InfluxSettings(url="http://127.0.0.1:9"))
        journal.append(
            Sample(PRESS, "counters", "Bad" if i in (3, 11) else "Good", i, now, now, "Good")
            for i in range(16)
        )
        journal.commit()
        api = _RejectingWriteApi()
        assert sink._write(api, sink._read()) == 2
    assert len(api.accepted) == 14
    assert [row.split("Good=")[1].split("i,")[0] for row in api.accepted] == [
        str(i) for i in range(16) if i not in (3, 11)
    ]


def test_influx_settings_name_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"url 'localhost:8086': expected http://"):
        InfluxSettings(url="localhost:8086")
    with pytest.raises(SettingsError, match="bucket: must not be empty"):
        InfluxSettings(bucket="")
    with pytest.raises(SettingsError, match="batch_size 0"):
        InfluxSettings(batch_size=0)
    with pytest.raises(SettingsError, match=r"ssl_ca_cert: file .*nope\.pem"):
        InfluxSettings(ssl_ca_cert=str(tmp_path / "nope.pem"))


def test_a_gap_is_written_to_its_variables_measurement() -> None:
    press = MachinePath("acme", "plant1", "forming", "line1", "press1", "PressBrakeType")
    t0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    gap = Gap(press, "counters", "Parts", t0, t0 + timedelta(seconds=90), 'no "history"')
    assert line(gap, 7) == (
        "counters,area=forming,cell=press1,cell_type=PressBrakeType,enterprise=acme,line=line1,"
        'site=plant1 Parts_gap=90.0,Parts_gap_reason="no \\"history\\"",Parts_seq=7i '
        f"{int((t0 + timedelta(seconds=90)).timestamp()) * 10**9}"
    )


def test_a_gap_in_a_machines_events_is_written_to_the_events_measurement() -> None:
    """Its end is unknown (until the bridge subscribed again): written at its start, as the
    measurement's own `gap`, `gap_reason` and `seq` (an event's `seq` is in the same field)."""
    press = MachinePath("acme", "plant1", "forming", "line1", "press1", "PressBrakeType")
    t0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    assert line(Gap(press, "alarms", "", t0, None, "no event history"), 3) == (
        "alarms,area=forming,cell=press1,cell_type=PressBrakeType,enterprise=acme,line=line1,"
        f'site=plant1 gap=0.0,gap_reason="no event history",seq=3i {int(t0.timestamp()) * 10**9}'
    )


async def test_rejected_lines_are_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    api = _RejectingWriteApi()

    class RejectingDatabase:  # VictoriaMetrics accepts every line: the rejection is injected
        def __init__(self, **_options: object) -> None:
            pass

        def write_api(self, **_options: object) -> _RejectingWriteApi:
            return api

        def close(self) -> None:
            pass

    monkeypatch.setattr(timeseries_sink, "InfluxDBClient", RejectingDatabase)
    now = datetime.now(UTC)
    with Journal(tmp_path / "j") as journal:
        async with TimeSeriesSink(journal, InfluxSettings(url="http://127.0.0.1:9")) as sink:
            journal.append(Sample(PRESS, "counters", "Bad" if i == 3 else "Good", i, now, now,
                                  "Good") for i in range(8))
            assert await sink.flush(timeout=10)
            assert sink.stats()["rejected"] == 1 and len(api.accepted) == 7
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("rejected 1 of 8 lines" in w and "Bad=3i" in w for w in warnings), warnings
