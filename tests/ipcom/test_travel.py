"""Position estimation of a shutter from its motor's running time, on a fake clock."""

from __future__ import annotations

import pytest

from ipcom.travel import (
    CLOSED,
    OPEN,
    OVERRUN_MAX,
    Direction,
    ShutterTravel,
    is_end,
)


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(clock: FakeClock, up: float | None = 20, down: float | None = 20) -> ShutterTravel:
    return ShutterTravel(up, down, clock=clock)


def test_direction_helpers() -> None:
    assert Direction.UP.opposite is Direction.DOWN
    assert Direction.DOWN.opposite is Direction.UP
    assert Direction.UP.end == OPEN
    assert Direction.DOWN.end == CLOSED
    assert is_end(0.0)
    assert is_end(100.0)
    assert not is_end(50.0)


def test_without_travel_times_only_direction_is_tracked(clock: FakeClock) -> None:
    travel = make(clock, None, None)
    assert not travel.positionable
    travel.set_position(40)
    assert travel.position is None
    travel.start(Direction.UP)
    clock.advance(100)
    assert travel.direction is Direction.UP
    assert travel.position is None
    travel.stop()
    assert travel.direction is None
    assert travel.position is None
    with pytest.raises(ValueError, match="no position"):
        travel.seconds_until(OPEN)


def test_one_travel_time_serves_both_directions(clock: FakeClock) -> None:
    travel = make(clock, None, 10)
    assert travel.positionable
    travel.set_position(CLOSED)
    travel.start(Direction.UP)
    clock.advance(5)
    assert travel.position == 50


@pytest.mark.parametrize(("up", "down"), [(0, 20), (20, -1)])
def test_travel_times_must_be_positive(clock: FakeClock, up: float, down: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        make(clock, up, down)


@pytest.mark.parametrize("position", [-1, 100.5])
def test_set_position_rejects_positions_out_of_range(clock: FakeClock, position: float) -> None:
    with pytest.raises(ValueError, match=r"0\.\.100"):
        make(clock).set_position(position)


def test_position_follows_running_time_and_freezes_on_stop(clock: FakeClock) -> None:
    travel = make(clock)
    travel.set_position(CLOSED)
    travel.start(Direction.UP)
    clock.advance(5)
    assert travel.position == 25
    travel.stop()
    clock.advance(30)
    assert travel.position == 25
    assert travel.direction is None


def test_stop_without_a_run_changes_nothing(clock: FakeClock) -> None:
    travel = make(clock)
    travel.set_position(30)
    travel.stop()
    assert travel.position == 30
    assert travel.rest_before(Direction.UP, 1.0) == 0


def test_separate_up_and_down_times(clock: FakeClock) -> None:
    travel = make(clock, up=24, down=20)
    travel.set_position(CLOSED)
    travel.start(Direction.UP)
    clock.advance(12)
    assert travel.position == 50
    travel.start(Direction.DOWN)
    clock.advance(5)
    assert travel.position == 25


def test_position_is_clamped_at_the_end_stops(clock: FakeClock) -> None:
    travel = make(clock)
    travel.set_position(90)
    travel.start(Direction.UP)
    clock.advance(10)
    assert travel.position == OPEN
    travel.start(Direction.DOWN)
    clock.advance(60)
    assert travel.position == CLOSED


def test_unknown_position_is_known_after_a_full_travel(clock: FakeClock) -> None:
    travel = make(clock)
    assert travel.position is None
    travel.start(Direction.DOWN)
    clock.advance(19.9)
    assert travel.position is None
    clock.advance(0.1)
    assert travel.position == CLOSED
    travel.stop()
    assert travel.position == CLOSED


def test_a_partial_run_from_an_unknown_position_stays_unknown(clock: FakeClock) -> None:
    travel = make(clock)
    travel.start(Direction.UP)
    clock.advance(10)
    travel.stop()
    assert travel.position is None


def test_set_position_while_running_rebases_the_run(clock: FakeClock) -> None:
    travel = make(clock)
    travel.start(Direction.UP)
    clock.advance(3)
    travel.set_position(40)
    clock.advance(2)
    assert travel.position == 50
    travel.set_position(None)
    assert travel.position is None


def test_starting_again_the_same_way_keeps_the_run(clock: FakeClock) -> None:
    travel = make(clock)
    travel.set_position(CLOSED)
    travel.start(Direction.UP)
    clock.advance(4)
    travel.start(Direction.UP)
    clock.advance(4)
    assert travel.position == 40


def test_direction_to(clock: FakeClock) -> None:
    travel = make(clock)
    assert travel.direction_to(OPEN) is Direction.UP
    assert travel.direction_to(CLOSED) is Direction.DOWN
    with pytest.raises(ValueError, match="unknown"):
        travel.direction_to(50)
    travel.set_position(50)
    assert travel.direction_to(50.4) is None
    assert travel.direction_to(60) is Direction.UP
    assert travel.direction_to(40) is Direction.DOWN
    travel.set_position(OPEN)
    assert travel.direction_to(OPEN) is Direction.UP


def test_seconds_until_a_position(clock: FakeClock) -> None:
    travel = make(clock, up=20, down=10)
    travel.set_position(CLOSED)
    assert travel.seconds_until(50) == 10
    assert travel.seconds_until(CLOSED + 0.2) == 0
    travel.set_position(80)
    assert travel.seconds_until(30) == 5


def test_seconds_until_an_end_stop_include_the_overrun(clock: FakeClock) -> None:
    travel = make(clock, up=20, down=10)
    travel.set_position(CLOSED)
    assert travel.seconds_until(OPEN) == pytest.approx(22)
    travel.set_position(OPEN)
    assert travel.seconds_until(OPEN) == pytest.approx(2)
    assert travel.seconds_until(CLOSED) == pytest.approx(11)


def test_overrun_is_capped(clock: FakeClock) -> None:
    travel = make(clock, up=300, down=300)
    travel.set_position(CLOSED)
    assert travel.seconds_until(OPEN) == pytest.approx(300 + OVERRUN_MAX)


def test_seconds_until_an_end_from_an_unknown_position(clock: FakeClock) -> None:
    travel = make(clock)
    assert travel.seconds_until(OPEN) == pytest.approx(22)
    travel.start(Direction.UP)
    clock.advance(5)
    assert travel.seconds_until(OPEN) == pytest.approx(17)
    assert travel.seconds_until(CLOSED) == pytest.approx(22)
    clock.advance(30)
    assert travel.seconds_until(OPEN) == pytest.approx(2)


def test_rest_before_a_reversal(clock: FakeClock) -> None:
    travel = make(clock)
    assert travel.rest_before(Direction.UP, 0.5) == 0
    travel.start(Direction.DOWN)
    assert travel.rest_before(Direction.DOWN, 0.5) == 0
    assert travel.rest_before(Direction.UP, 0.5) == 0.5
    travel.stop()
    clock.advance(0.2)
    assert travel.rest_before(Direction.UP, 0.5) == pytest.approx(0.3)
    assert travel.rest_before(Direction.DOWN, 0.5) == 0
    clock.advance(0.3)
    assert travel.rest_before(Direction.UP, 0.5) == 0


def test_a_direct_reversal_counts_as_a_stop(clock: FakeClock) -> None:
    travel = make(clock, None, None)
    travel.start(Direction.UP)
    travel.start(Direction.DOWN)
    assert travel.direction is Direction.DOWN
    travel.stop()
    assert travel.rest_before(Direction.UP, 1.0) == 1.0
