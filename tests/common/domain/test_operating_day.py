"""Operating-day arithmetic in US Central prevailing time, including both DST days."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meterhub_common.domain import (
    CENTRAL,
    INTERVAL,
    Interval,
    day_bounds,
    interval_end,
    interval_start,
    intervals,
    intervals_in_day,
    operating_day_of,
    position_of,
    today_central,
)

SPRING_FORWARD = date(2026, 3, 8)
FALL_BACK = date(2026, 11, 1)
SUMMER = date(2026, 6, 1)

days = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))


def _offset(moment: datetime) -> str:
    return moment.isoformat()[-6:]


@pytest.mark.parametrize(
    ("day", "count"),
    [
        (SPRING_FORWARD, 92),
        (FALL_BACK, 100),
        (SUMMER, 96),
        (date(2026, 1, 15), 96),
        (date(2008, 5, 10), 96),  # the day of ERCOT's LSE sample
        (date(2025, 3, 9), 92),
        (date(2025, 11, 2), 100),
        (date(2006, 4, 2), 92),  # before the 2007 rule change DST began in April
        (date(2006, 10, 29), 100),
        (date(2007, 3, 11), 92),
    ],
)
def test_intervals_in_day(day: date, count: int) -> None:
    assert intervals_in_day(day) == count
    assert len(intervals(day)) == count


def test_day_bounds_are_utc_instants_of_local_midnights() -> None:
    assert day_bounds(SUMMER) == (
        datetime(2026, 6, 1, 5, tzinfo=UTC),
        datetime(2026, 6, 2, 5, tzinfo=UTC),
    )
    assert day_bounds(SPRING_FORWARD) == (
        datetime(2026, 3, 8, 6, tzinfo=UTC),
        datetime(2026, 3, 9, 5, tzinfo=UTC),
    )
    assert day_bounds(FALL_BACK) == (
        datetime(2026, 11, 1, 5, tzinfo=UTC),
        datetime(2026, 11, 2, 6, tzinfo=UTC),
    )
    start, end = day_bounds(SUMMER)
    assert start.tzinfo is UTC
    assert end.tzinfo is UTC


def test_year_boundary() -> None:
    assert day_bounds(date(2025, 12, 31)) == (
        datetime(2025, 12, 31, 6, tzinfo=UTC),
        datetime(2026, 1, 1, 6, tzinfo=UTC),
    )
    last = intervals(date(2025, 12, 31))[-1]
    assert last.start.isoformat() == "2025-12-31T23:45:00-06:00"
    assert last.end.isoformat() == "2026-01-01T00:00:00-06:00"
    assert last.label == "00:00"
    assert interval_start(date(2026, 1, 1), 0) == last.end
    assert operating_day_of(last.end) == date(2026, 1, 1)
    assert operating_day_of(last.end - timedelta(microseconds=1)) == date(2025, 12, 31)
    assert intervals_in_day(date(2040, 12, 31)) == 96


def test_ordinary_day_starts_labels_and_offsets() -> None:
    day = intervals(SUMMER)
    assert day[0] == Interval(
        0,
        datetime(2026, 6, 1, 0, 0, tzinfo=CENTRAL),
        datetime(2026, 6, 1, 0, 15, tzinfo=CENTRAL),
        "00:15",
    )
    assert day[0].start.isoformat() == "2026-06-01T00:00:00-05:00"
    assert [i.label for i in day[:4]] == ["00:15", "00:30", "00:45", "01:00"]
    assert day[-1].label == "00:00"
    assert day[-1].start.isoformat() == "2026-06-01T23:45:00-05:00"
    expected = [f"{(m // 60) % 24:02d}:{m % 60:02d}" for m in range(15, 24 * 60 + 1, 15)]
    assert [i.label for i in day] == expected
    assert [i.position for i in day] == list(range(96))


def test_spring_forward_day_skips_the_0200_hour() -> None:
    day = intervals(SPRING_FORWARD)
    labels = [i.label for i in day]
    # ERCOT: "a gap in the intervals between 2:00 am and 3:15 am (92 intervals on this day)".
    assert labels[6:10] == ["01:45", "02:00", "03:15", "03:30"]
    assert not {"02:15", "02:30", "02:45", "03:00"} & set(labels)
    assert len(set(labels)) == 92
    assert day[7].start.isoformat() == "2026-03-08T01:45:00-06:00"
    assert day[8].start.isoformat() == "2026-03-08T03:00:00-05:00"
    assert day[7].end == day[8].start
    assert _offset(day[0].start) == "-06:00"
    assert _offset(day[-1].start) == "-05:00"


def test_fall_back_day_repeats_0115_to_0200_with_different_offsets() -> None:
    day = intervals(FALL_BACK)
    assert day[3].label == "01:00"
    # The four intervals from the first 01:00 (CDT) and the four after it (CST).
    first, second = day[4:8], day[8:12]
    assert [i.label for i in first] == ["01:15", "01:30", "01:45", "02:00"]
    assert [i.label for i in second] == ["01:15", "01:30", "01:45", "02:00"]
    assert [i.start.isoformat() for i in first] == [
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T01:15:00-05:00",
        "2026-11-01T01:30:00-05:00",
        "2026-11-01T01:45:00-05:00",
    ]
    assert [i.start.isoformat() for i in second] == [
        "2026-11-01T01:00:00-06:00",
        "2026-11-01T01:15:00-06:00",
        "2026-11-01T01:30:00-06:00",
        "2026-11-01T01:45:00-06:00",
    ]
    for a, b in zip(first, second, strict=True):
        assert b.start.astimezone(UTC) - a.start.astimezone(UTC) == timedelta(hours=1)
    assert day[12].label == "02:15"
    assert day[-1].label == "00:00"
    assert _offset(day[-1].end) == "-06:00"


@pytest.mark.parametrize("day", [SPRING_FORWARD, FALL_BACK, SUMMER, date(2025, 12, 31)])
def test_intervals_tile_the_day_without_gaps(day: date) -> None:
    start, end = day_bounds(day)
    items = intervals(day)
    assert items[0].start == start
    assert items[-1].end == end
    for a, b in itertools.pairwise(items):
        assert a.end == b.start
        assert b.start.astimezone(UTC) - a.start.astimezone(UTC) == INTERVAL
    for i, item in enumerate(items):
        assert item.start.tzinfo is CENTRAL
        assert interval_start(day, i).isoformat() == item.start.isoformat()
        assert interval_end(day, i).isoformat() == item.end.isoformat()


def test_intervals_returns_a_fresh_list() -> None:
    first = intervals(SUMMER)
    first.clear()
    assert len(intervals(SUMMER)) == 96


@pytest.mark.parametrize(("day", "position"), [(SUMMER, 96), (SPRING_FORWARD, 92), (SUMMER, -1)])
def test_interval_position_out_of_range(day: date, position: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        interval_start(day, position)
    with pytest.raises(ValueError, match="out of range"):
        interval_end(day, position)


def test_interval_position_must_be_an_int() -> None:
    with pytest.raises(TypeError):
        interval_start(SUMMER, True)
    with pytest.raises(TypeError):
        interval_start(SUMMER, 1.0)  # type: ignore[arg-type]


def test_the_last_representable_date_is_no_operating_day() -> None:
    with pytest.raises(ValueError, match="no next midnight"):
        intervals_in_day(date.max)
    assert intervals_in_day(date.min) == 96


def test_a_datetime_is_not_an_operating_day() -> None:
    with pytest.raises(TypeError, match="not datetime"):
        intervals_in_day(datetime(2026, 6, 1))
    with pytest.raises(TypeError):
        intervals("2026-06-01")  # type: ignore[arg-type]


def test_position_of_accepts_any_zone_for_the_instant() -> None:
    assert position_of(FALL_BACK, datetime(2026, 11, 1, 7, 0, tzinfo=UTC)) == 8
    assert position_of(FALL_BACK, datetime(2026, 11, 1, 6, 0, tzinfo=UTC)) == 4
    assert position_of(FALL_BACK, datetime(2026, 11, 1, 1, 0, tzinfo=CENTRAL, fold=1)) == 8
    assert position_of(FALL_BACK, datetime(2026, 11, 1, 1, 0, tzinfo=CENTRAL)) == 4
    fixed = timezone(timedelta(hours=-5))
    assert position_of(SUMMER, datetime(2026, 6, 1, 23, 45, tzinfo=fixed)) == 95


@pytest.mark.parametrize(
    "instant",
    [
        datetime(2026, 6, 1, 5, 7, tzinfo=UTC),  # not on a boundary
        datetime(2026, 6, 1, 4, 45, tzinfo=UTC),  # the day before
        datetime(2026, 6, 2, 5, 0, tzinfo=UTC),  # the next midnight ends the day
        datetime(2026, 6, 1, 5, 0, 1, tzinfo=UTC),
    ],
)
def test_position_of_rejects_instants_that_start_no_interval_of_the_day(
    instant: datetime,
) -> None:
    with pytest.raises(ValueError, match="not the start of an interval"):
        position_of(SUMMER, instant)


def test_position_of_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        position_of(SUMMER, datetime(2026, 6, 1, 1, 0))


@given(days)
@settings(max_examples=300, deadline=None)
def test_position_of_inverts_interval_start(day: date) -> None:
    count = intervals_in_day(day)
    assert count in (92, 96, 100)
    for i in range(count):
        start = interval_start(day, i)
        assert position_of(day, start) == i
        assert position_of(day, start.astimezone(UTC)) == i
        assert operating_day_of(start) == day
        assert interval_end(day, i).astimezone(UTC) - start.astimezone(UTC) == INTERVAL


@given(days)
@settings(max_examples=300, deadline=None)
def test_day_bounds_are_consecutive_and_span_23_24_or_25_hours(day: date) -> None:
    start, end = day_bounds(day)
    assert end == day_bounds(day + timedelta(days=1))[0]
    assert end - start == INTERVAL * intervals_in_day(day)
    assert start.astimezone(CENTRAL).time().isoformat() == "00:00:00"


def test_operating_day_of() -> None:
    assert operating_day_of(datetime(2026, 11, 1, 5, 30, tzinfo=UTC)) == FALL_BACK
    assert operating_day_of(datetime(2026, 11, 1, 4, 59, tzinfo=UTC)) == date(2026, 10, 31)
    assert operating_day_of(datetime(2026, 1, 1, 5, 59, tzinfo=UTC)) == date(2025, 12, 31)
    with pytest.raises(ValueError):
        operating_day_of(datetime(2026, 1, 1))


def test_today_central() -> None:
    assert today_central(datetime(2026, 11, 23, 5, 59, tzinfo=UTC)) == date(2026, 11, 22)
    assert today_central(datetime(2026, 11, 23, 6, 0, tzinfo=UTC)) == date(2026, 11, 23)
    assert abs(today_central() - datetime.now(UTC).date()) <= timedelta(days=1)
    with pytest.raises(ValueError):
        today_central(datetime(2026, 11, 23))
