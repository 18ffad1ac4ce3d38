"""Availability = available minutes / (total minutes - planned maintenance), seed 002."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meterhub_common.domain.operating_day import CENTRAL
from meterhub_notifier.availability.arithmetic import (
    MinuteState,
    classify,
    combine,
    maintenance_minutes,
    minute_number,
    month_bounds,
    tally,
)
from meterhub_notifier.settings import UnobservedMinutes

DOWN = UnobservedMinutes.DOWN
EXCLUDED = UnobservedMinutes.EXCLUDED


def at(hour: int, minute: int = 0, day: int = 9) -> datetime:
    return datetime(2024, 3, day, hour, minute, tzinfo=CENTRAL).astimezone(UTC)


def outcomes(
    start: datetime, end: datetime, down: list[tuple[datetime, datetime]]
) -> dict[int, bool]:
    result = {}
    for m in range(minute_number(start), minute_number(end)):
        result[m] = not any(minute_number(a) <= m < minute_number(b) for a, b in down)
    return result


def test_maintenance_window_overlapping_an_outage() -> None:
    # Saturday 9 March 2024 (1,440 minutes, all CST). Planned window 02:00-06:00; the service
    # fails 05:00-07:30. The hour inside the window is maintenance, not downtime.
    day_start, day_end = at(0), at(0, day=10)
    seen = outcomes(day_start, day_end, [(at(5), at(7, 30))])
    windows = [(at(2), at(6)), (at(3), at(4))]  # a second, overlapping window adds nothing
    counted = tally(classify(day_start, day_end, seen, maintenance_minutes(windows))).total
    assert counted.total_minutes == 1440
    assert counted.maintenance_minutes == 240
    assert counted.measured_minutes == 1200
    assert counted.down_minutes == 90
    assert counted.up_minutes == 1110
    assert counted.availability(DOWN) == 1110 / 1200  # 92.5 %
    allowed, remaining = counted.error_budget(0.99, DOWN)
    assert round(allowed, 6) == 12.0
    assert round(remaining, 6) == -78.0


def test_window_partially_covering_minutes_and_cut_short() -> None:
    # 02:00:30-02:02:10 touches three minutes: 02:00, 02:01, 02:02.
    touched = maintenance_minutes(
        [(at(2) + timedelta(seconds=30), at(2, 2) + timedelta(seconds=10))]
    )
    assert touched == {minute_number(at(2)), minute_number(at(2, 1)), minute_number(at(2, 2))}
    assert maintenance_minutes([(at(2), at(2, 5))]) == {minute_number(at(2, m)) for m in range(5)}


def test_unobserved_minutes_follow_the_policy() -> None:
    day_start, day_end = at(0), at(0, day=10)
    seen = outcomes(day_start, day_end, [(at(5), at(7, 30))])
    for m in range(minute_number(at(20)), minute_number(at(20, 10))):
        del seen[m]  # the notifier itself was being redeployed
    counted = tally(classify(day_start, day_end, seen, maintenance_minutes([(at(2), at(6))]))).total
    assert (counted.up_minutes, counted.down_minutes, counted.unobserved_minutes) == (1100, 90, 10)
    assert counted.availability(DOWN) == 1100 / 1200
    assert counted.availability(EXCLUDED) == 1100 / 1190
    assert counted.unavailable_minutes(DOWN) == 100
    assert counted.unavailable_minutes(EXCLUDED) == 90
    # Unobserved minutes inside a window are maintenance like the rest of the window.
    inside = dict(seen)
    for m in range(minute_number(at(3)), minute_number(at(3, 30))):
        del inside[m]
    again = tally(classify(day_start, day_end, inside, maintenance_minutes([(at(2), at(6))]))).total
    assert (again.maintenance_minutes, again.unobserved_minutes) == (240, 10)


def test_month_minutes_and_dst_days_in_central_time() -> None:
    march = month_bounds(2024, 3)
    november = month_bounds(2024, 11)
    december = month_bounds(2024, 12)
    assert march[0].astimezone(CENTRAL).isoformat() == "2024-03-01T00:00:00-06:00"
    assert december[1].astimezone(CENTRAL).isoformat() == "2025-01-01T00:00:00-06:00"
    result = tally(classify(*march, {}, set()))
    assert result.total.total_minutes == 31 * 1440 - 60 == 44580
    assert result.days[datetime(2024, 3, 10).date()].total_minutes == 1380
    assert result.total.unobserved_minutes == 44580
    assert result.total.availability(DOWN) == 0.0
    assert result.total.availability(EXCLUDED) is None
    fall = tally(classify(*november, {}, set()))
    assert fall.total.total_minutes == 30 * 1440 + 60 == 43260
    assert fall.days[datetime(2024, 11, 3).date()].total_minutes == 1500
    assert len(fall.days) == 30


def test_market_service_is_up_only_when_every_component_is() -> None:
    usage = {1: True, 2: True, 3: False, 4: True}
    ingest = {1: True, 2: False, 3: True}
    assert combine([usage, ingest]) == {1: True, 2: False, 3: False}
    states = dict(
        classify(
            datetime.fromtimestamp(60, UTC),
            datetime.fromtimestamp(300, UTC),
            combine([usage, ingest]),
            {2},
        )
    )
    assert states == {
        1: MinuteState.UP,
        2: MinuteState.MAINTENANCE,
        3: MinuteState.DOWN,
        4: MinuteState.UNOBSERVED,
    }
