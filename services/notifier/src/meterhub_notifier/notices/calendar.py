"""Business days, the advance-notice rule and the maintenance window, in Central time.

Every rule here works on calendar days of America/Chicago (Central prevailing time), so a
notice issued at 11 PM on a Friday is a Friday notice whatever the server's clock says, and
windows across a DST change keep their wall-clock meaning.

Instants are returned in UTC: Python subtracts and compares two datetimes that share a tzinfo
by wall-clock time, which is an hour off across a DST change.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from meterhub_common.domain.operating_day import CENTRAL


def is_business_day(day: date, holidays: Iterable[date]) -> bool:
    return day.weekday() < 5 and day not in set(holidays)


def central_datetime(day: date, at: time) -> datetime:
    """The instant (UTC) a Central wall-clock time happens on ``day`` (the first, if twice).

    A wall time skipped by spring-forward gives the instant an hour later.
    """
    return datetime.combine(day, at, tzinfo=CENTRAL).astimezone(UTC)


def as_central(value: datetime) -> datetime:
    """The instant (UTC) of ``value``; a naive one is read as Central wall-clock time.

    A naive time that does not exist (skipped in spring) or happens twice (the repeated hour
    in November) is refused: the caller must give the UTC offset then.
    """
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value.astimezone(UTC)
    first = value.replace(tzinfo=CENTRAL, fold=0)
    if first.astimezone(UTC).astimezone(CENTRAL).replace(tzinfo=None) != value:
        raise ValueError(f"{value.isoformat()} does not exist in Central time (DST begins)")
    if first.utcoffset() != value.replace(tzinfo=CENTRAL, fold=1).utcoffset():
        raise ValueError(
            f"{value.isoformat()} happens twice in Central time (DST ends); give its UTC offset"
        )
    return first.astimezone(UTC)


def earliest_allowed_start(
    issued_at: datetime, business_days: int, holidays: Iterable[date]
) -> datetime:
    """The earliest start of a planned outage announced at ``issued_at``.

    "At least N business days prior": N whole business days (weekdays that are not holidays)
    must lie after the day of the notice and before the day the outage starts, so the earliest
    start is midnight after the N-th business day following the notice's day. A notice on
    Tuesday allows Saturday (Wednesday, Thursday, Friday); on Wednesday it allows Tuesday.
    """
    if business_days <= 0:
        return issued_at.astimezone(UTC)
    holiday_set = set(holidays)
    day = issued_at.astimezone(CENTRAL).date()
    counted = 0
    while counted < business_days:
        day += timedelta(days=1)
        if is_business_day(day, holiday_set):
            counted += 1
    return central_datetime(day + timedelta(days=1), time(0))


def next_window(
    not_before: datetime, weekday: int, start: time, end: time
) -> tuple[datetime, datetime]:
    """The first weekly maintenance window that starts at or after ``not_before``."""
    day = not_before.astimezone(CENTRAL).date()
    while True:
        if day.weekday() == weekday:
            window_start = central_datetime(day, start)
            if window_start >= not_before:
                return window_start, central_datetime(day, end)
        day += timedelta(days=1)


def within_window(
    starts_at: datetime, ends_at: datetime, weekday: int, start: time, end: time
) -> bool:
    """Whether a planned outage lies inside one occurrence of the weekly window."""
    local_start = starts_at.astimezone(CENTRAL)
    day = local_start.date()
    if day.weekday() != weekday:
        return False
    return central_datetime(day, start) <= starts_at and ends_at <= central_datetime(day, end)


def notice_date_text(day: date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def _clock(instant: datetime) -> str:
    local = instant.astimezone(CENTRAL)
    hour = local.hour % 12 or 12
    half = "AM" if local.hour < 12 else "PM"
    return f"{hour}:{local.minute:02d} {half} {local.tzname()}"


def _day(instant: datetime) -> str:
    local = instant.astimezone(CENTRAL)
    return f"{local:%A}, {notice_date_text(local.date())}"


def describe_instant(instant: datetime) -> str:
    """E.g. ``Tuesday, March 12, 2024, 3:01 PM CDT``."""
    return f"{_day(instant)}, {_clock(instant)}"


def describe_period(starts_at: datetime | None, ends_at: datetime | None) -> str:
    """DAY(S) AFFECTED in words, with CST or CDT on every time so DST days read right."""
    if starts_at is None:
        return "Not applicable"
    if ends_at is None:
        return f"{_day(starts_at)}, from {_clock(starts_at)} until further notice"
    if starts_at.astimezone(CENTRAL).date() == ends_at.astimezone(CENTRAL).date():
        return f"{_day(starts_at)}, {_clock(starts_at)} to {_clock(ends_at)}"
    return f"{_day(starts_at)}, {_clock(starts_at)} to {_day(ends_at)}, {_clock(ends_at)}"
