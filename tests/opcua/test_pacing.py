"""The pacer's arithmetic, on a real plant and a hand-driven clock."""

from __future__ import annotations

import pytest

from opcua_server.pacing import MAX_CHUNK_S, MAX_SPEED, Pacer, PacingError
from tests.opcua.conftest import make_plant


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def nothing() -> None:
    pass


def pacer(speed=60.0, paused=False, **kwargs):
    clock = Clock()
    return Pacer(make_plant(), nothing, speed=speed, paused=paused, clock=clock, **kwargs), clock


@pytest.mark.parametrize("speed", [0.0, -1.0, MAX_SPEED * 2, float("nan")])
def test_impossible_speeds_are_refused(speed):
    with pytest.raises(PacingError, match="speed must be"):
        pacer(speed=speed)


async def test_simulated_time_follows_the_wall_clock_times_the_speed():
    p, clock = pacer(speed=60.0)
    clock.now += 2.0
    await p.advance_to(p._bounded_target())
    assert p.plant.now == pytest.approx(12.0)  # bounded: two ticks of 0.1 s at 60x
    clock.now += 0.1
    await p.advance_to(p._bounded_target())
    assert p.plant.now == pytest.approx(18.0)  # re-anchored: no catching up
    await p.set_speed(600.0)
    clock.now += 0.1
    await p.advance_to(p._bounded_target())
    assert p.plant.now == pytest.approx(78.0)


async def test_step_needs_a_pause_and_a_positive_duration():
    p, _ = pacer()
    with pytest.raises(PacingError, match="paused"):
        await p.step(10)
    await p.pause()
    with pytest.raises(PacingError, match="positive"):
        await p.step(0)
    await p.step(3600)
    assert p.plant.now == 3600
    await p.resume()
    assert not p.paused


async def test_a_budget_stops_a_long_advance_early_and_bursts_are_published():
    published = []
    clock = Clock()
    plant = make_plant()

    async def publish() -> None:
        published.append(plant.now)
        clock.now += 1.0  # every publication costs a wall second

    p = Pacer(plant, publish, speed=1.0, clock=clock, backlog=lambda: 10_000, max_backlog=100)
    await p.advance_to(12 * 3600, budget_s=2.5)
    assert 0 < plant.now < 12 * 3600  # stopped by the budget, not at `until`
    assert len(published) >= 3  # the backlog was published between chunks, and at the end


async def test_a_tick_cut_short_by_its_budget_leaves_the_rest_for_the_next_tick():
    """An overloaded server keeps running the model instead of idling a tick: the time a
    budget cut off is still owed (up to two ticks' worth), not forgiven by re-anchoring."""
    clock = Clock()
    plant = make_plant()

    async def publish() -> None:
        clock.now += 0.06  # slow publication: the budget runs out mid-tick

    p = Pacer(plant, publish, speed=60_000.0, clock=clock, backlog=lambda: 10_000, max_backlog=1)
    clock.now += 0.1
    target = p._bounded_target()
    await p.advance_to(target, budget_s=0.1)
    assert plant.now < target
    assert p._bounded_target() >= target


async def test_after_a_quiet_night_the_budget_is_still_checked_every_few_simulated_minutes():
    """The model's chunk grows while nothing happens; the cap keeps the morning's burst (every
    cell starting its shift at 06:00) from running in one go past the tick's budget."""
    clock = Clock()
    plant = make_plant()
    p = Pacer(plant, nothing, speed=1.0, clock=clock)
    await p.advance_to(5 * 3600)  # Monday 00:00-05:00: the plant is closed
    start = plant.now
    p._clock = lambda: 100.0 + (plant.now - start) / 60  # a wall second per simulated minute
    await p.advance_to(10 * 3600, budget_s=0.5)
    assert start < plant.now <= start + MAX_CHUNK_S
