"""The advance-notice rule, the maintenance window and notice dates, in Central time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from meterhub_common.domain.operating_day import CENTRAL
from meterhub_notifier.notices.calendar import (
    as_central,
    describe_period,
    earliest_allowed_start,
    is_business_day,
    next_window,
    within_window,
)
from meterhub_notifier.notices.ids import next_letter, notice_id, split_notice_id, thread_code
from meterhub_notifier.settings import WeeklyWindow

GOOD_FRIDAY = date(2024, 3, 29)
THANKSGIVING = [date(2024, 11, 28), date(2024, 11, 29)]


def central(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=CENTRAL, fold=fold)  # type: ignore[misc]


def test_tuesday_notice_allows_saturday_across_the_weekend() -> None:
    issued = central(2024, 3, 5, 10, 0)  # Tuesday
    assert earliest_allowed_start(issued, 3, []) == central(2024, 3, 9, 0, 0)


def test_wednesday_notice_skips_the_weekend_and_lands_after_spring_forward() -> None:
    # Thursday, Friday, then Monday 11 March: the outage may start Tuesday 12 March, which is
    # already daylight time (DST began Sunday 10 March).
    earliest = earliest_allowed_start(central(2024, 3, 6, 16, 30), 3, [])
    assert earliest == central(2024, 3, 12, 0, 0)
    assert earliest.astimezone(CENTRAL).isoformat() == "2024-03-12T00:00:00-05:00"


def test_holiday_is_not_a_business_day() -> None:
    issued = central(2024, 3, 26, 9, 0)  # Tuesday before Good Friday
    assert earliest_allowed_start(issued, 3, []) == central(2024, 3, 30, 0, 0)
    assert earliest_allowed_start(issued, 3, [GOOD_FRIDAY]) == central(2024, 4, 2, 0, 0)
    assert not is_business_day(GOOD_FRIDAY, [GOOD_FRIDAY])
    assert not is_business_day(date(2024, 3, 30), [])


def test_thanksgiving_weekend_pushes_the_window_a_week() -> None:
    issued = central(2024, 11, 25, 8, 0)  # Monday
    # Tuesday, Wednesday, (Thursday and Friday holidays, weekend), Monday 2 December.
    assert earliest_allowed_start(issued, 3, THANKSGIVING) == central(2024, 12, 3, 0, 0)


def test_the_day_is_the_central_day_not_the_utc_day() -> None:
    # 11:30 PM Tuesday in Texas is already Wednesday in UTC; it is still a Tuesday notice.
    issued = datetime(2024, 3, 6, 5, 30, tzinfo=UTC)
    assert issued.astimezone(CENTRAL).weekday() == 1
    assert earliest_allowed_start(issued, 3, []) == central(2024, 3, 9, 0, 0)


def test_default_window_is_saturday_two_to_noon_central() -> None:
    window = WeeklyWindow.parse("Saturday 02:00-12:00")
    start, end = next_window(central(2024, 3, 9, 0, 0), window.weekday, window.start, window.end)
    assert (start, end) == (central(2024, 3, 9, 2, 0), central(2024, 3, 9, 12, 0))
    assert end - start == timedelta(hours=10)
    # After the window has begun, the next one is a week later (in CDT by then).
    start, _ = next_window(central(2024, 3, 9, 2, 1), window.weekday, window.start, window.end)
    assert start.astimezone(CENTRAL).isoformat() == "2024-03-16T02:00:00-05:00"
    assert within_window(
        start, start + timedelta(hours=3), window.weekday, window.start, window.end
    )
    assert not within_window(
        central(2024, 3, 10, 2, 0) + timedelta(hours=1),
        central(2024, 3, 10, 6, 0),
        window.weekday,
        window.start,
        window.end,
    )


def test_window_setting_is_validated() -> None:
    assert WeeklyWindow.parse("sunday 00:00-04:30").weekday == 6
    with pytest.raises(ValueError, match="not like"):
        WeeklyWindow.parse("Caturday 02:00-12:00")
    with pytest.raises(ValueError, match="end after"):
        WeeklyWindow.parse("Saturday 12:00-02:00")


def test_dst_weekend_period_reads_cst_then_cdt() -> None:
    start = central(2024, 3, 9, 23, 0)
    end = central(2024, 3, 10, 4, 0)
    # Not 5 hours: 2 AM never happened. (Subtract in UTC: Python subtracts two datetimes with
    # the same tzinfo by wall clock.)
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=4)
    assert describe_period(start, end) == (
        "Saturday, March 9, 2024, 11:00 PM CST to Sunday, March 10, 2024, 4:00 AM CDT"
    )
    assert describe_period(central(2024, 3, 12, 15, 0), None) == (
        "Tuesday, March 12, 2024, from 3:00 PM CDT until further notice"
    )


def test_naive_times_are_central_and_dst_gaps_and_repeats_are_refused() -> None:
    assert as_central(datetime(2024, 3, 9, 2, 0)) == datetime(2024, 3, 9, 8, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="does not exist"):
        as_central(datetime(2024, 3, 10, 2, 30))
    with pytest.raises(ValueError, match="happens twice"):
        as_central(datetime(2024, 11, 3, 1, 30))
    # With an offset, the repeated hour is unambiguous.
    second = as_central(datetime.fromisoformat("2024-11-03T01:30:00-06:00"))
    assert second == datetime(2024, 11, 3, 7, 30, tzinfo=UTC)


def test_notice_id_scheme() -> None:
    code = thread_code("M", "A", date(2019, 12, 11))
    assert notice_id(code, 1) == "M-A121119-01"
    assert split_notice_id("m-a121119-02") == ("M-A121119", 2)
    assert next_letter([]) == "A"
    assert next_letter(["A", "C", "B"]) == "D"
    assert next_letter(["Z"]) is None
    with pytest.raises(Exception, match="not a notice id"):
        split_notice_id("M-121119-01")


def test_window_parse_time_values() -> None:
    window = WeeklyWindow.parse("Saturday 2:00-12:00")
    assert (window.start, window.end) == (time(2, 0), time(12, 0))
    assert str(window) == "Saturday 02:00-12:00"
