"""The hold/release gate of the OPC UA input, on its own: what it holds, what it lets through
after history was read, and where an overflow stops the flow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from asyncua import ua

from mqtt_bridge.inputs.opcua.gate import OVERFLOW_BITS, Cover, Gate

T0 = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Series:
    key: str


A, B = Series("a"), Series("b")


def value(v: float, seconds: int, overflow: bool = False) -> ua.DataValue:
    status = ua.StatusCode(OVERFLOW_BITS if overflow else 0)
    return ua.DataValue(ua.Variant(v), StatusCode=status,
                        SourceTimestamp=T0 + timedelta(seconds=seconds))


def values(pairs: list) -> list[tuple[str, float]]:
    return [(series.key, dv.Value.Value) for series, dv in pairs]


def never(series: Series) -> bool:
    raise AssertionError("no overflow expected")


def test_an_open_gate_admits_nothing_and_a_held_gate_keeps_arrival_order() -> None:
    gate = Gate()
    assert not gate.admit([(A, value(1, 1))]) and not gate.admit_events(["e"])
    gate.hold()
    assert gate.admit([(A, value(1, 1))]) and gate.admit([(B, value(2, 2))])
    assert gate.admit_events(["e1"]) and gate.admit_events(["e2"])
    held, events = gate.release()
    assert values(held) == [("a", 1), ("b", 2)] and events == ["e1", "e2"]
    assert not gate.holding and gate.release() == ([], [])


def test_a_hold_for_values_only_lets_events_pass() -> None:
    gate = Gate()
    gate.hold([(A, value(1, 1))], events=False)
    assert gate.holding and not gate.admit_events(["e"])
    assert values(gate.release()[0]) == [("a", 1)]


def cover(since: int | None, *changes: tuple[int, float]) -> Cover:
    """What history read of a series from `since` on: (seconds, value) changes."""
    return Cover(None if since is None else T0 + timedelta(seconds=since),
                 [(T0 + timedelta(seconds=seconds), v) for seconds, v in changes])


def test_values_history_handed_on_are_skipped_per_series() -> None:
    pairs = [(A, value(1, 1)), (B, value(2, 1)), (A, value(3, 5)), (A, value(4, 9))]
    passed, skipped = Gate().sift(pairs, {"a": cover(0, (1, 1), (5, 3))}, never)
    # the same source time and value as a change read from history: handed on from there
    assert values(passed) == [("b", 2), ("a", 4)] and skipped == 2


def test_a_value_history_did_not_hand_on_passes_even_if_older() -> None:
    """Not a repeat: another value at a time history holds, or a time it does not hold."""
    covered = {"a": cover(0, (1, 1), (5, 3))}
    passed, skipped = Gate().sift([(A, value(2, 1)), (A, value(7, 3))], covered, never)
    assert values(passed) == [("a", 2), ("a", 7)] and skipped == 0
    # in flight values may still follow: neither was at or after the newest change read
    assert "a" in covered


def test_a_recoverable_overflow_holds_that_value_and_everything_after_it() -> None:
    gate = Gate()
    asked: list[Series] = []

    def recoverable(series: Series) -> bool:
        asked.append(series)
        return True

    pairs = [(B, value(1, 1)), (A, value(2, 2, overflow=True)), (B, value(3, 3))]
    passed, _ = gate.sift(pairs, {}, recoverable)
    assert values(passed) == [("b", 1)] and asked == [A]
    assert gate.holding and not gate.admit_events(["e"])  # events flow on meanwhile
    assert gate.admit([(A, value(4, 4))])
    held, _ = gate.release()
    assert values(held) == [("a", 2), ("b", 3), ("a", 4)]
    # after the gap of `a` was read, its flagged value passes without asking again
    passed, _ = gate.sift(held, {}, never, recovered="a")
    assert values(passed) == [("a", 2), ("b", 3), ("a", 4)] and not gate.holding


def test_an_unrecoverable_overflow_lets_the_value_pass() -> None:
    gate = Gate()
    pairs = [(A, value(1, 1, overflow=True)), (A, value(2, 2))]
    passed, _ = gate.sift(pairs, {}, lambda series: False)
    assert values(passed) == [("a", 1), ("a", 2)] and not gate.holding


def test_only_both_overflow_bits_make_an_overflow() -> None:
    info_only = ua.DataValue(ua.Variant(1.0), StatusCode=ua.StatusCode(0x0400))
    passed, _ = Gate().sift([(A, info_only)], {}, never)
    assert len(passed) == 1


def test_the_cover_of_history_lasts_until_live_values_reach_it() -> None:
    """Values still in flight when history was read arrive after the release: skipped too."""
    covered = {"a": cover(0, (3, 1), (4, 3), (5, 2))}
    passed, skipped = Gate().sift([(A, value(1, 3))], covered, never)
    assert passed == [] and skipped == 1 and "a" in covered
    pairs = [(A, value(3, 4)), (A, value(2, 5)), (A, value(4, 6)), (A, value(1, 3))]
    passed, skipped = Gate().sift(pairs, covered, never)
    # the first value after the newest one read ends the cover: what follows is live, even
    # a change history held (not in flight any more: it came after a newer value)
    assert values(passed) == [("a", 4), ("a", 1)] and skipped == 2 and covered == {}


def test_when_the_clock_went_back_the_fresh_values_pass_and_end_the_cover() -> None:
    """A restarted server with a fresh simulated clock stamps its values older than those
    history handed on: they are new changes, not repeats."""
    covered = {"a": cover(7200, (7200, 1), (9000, 2)), "b": cover(7200, (7200, 5))}
    pairs = [(A, value(0, 0)), (B, value(5, 7200)), (A, value(2, 9000)), (B, value(8, 60))]
    passed, skipped = Gate().sift(pairs, covered, never)
    # before where history was read from: cannot be in flight, the cover ends there; so even
    # a later value equal to one history read is a change of the fresh run
    assert values(passed) == [("a", 0), ("a", 2), ("b", 8)] and skipped == 1
    assert covered == {}


def test_a_cover_without_changes_is_none() -> None:
    assert not cover(0) and cover(None, (1, 1)).newest == T0 + timedelta(seconds=1)
