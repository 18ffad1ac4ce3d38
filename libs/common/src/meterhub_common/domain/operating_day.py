"""Operating days and their 15-minute intervals, in US Central prevailing time.

An operating day runs from local midnight to the next local midnight in America/Chicago, so it
has 96 intervals, 92 on the spring-forward day and 100 on the fall-back day. An interval is
addressed by its position in the day (0-based) or by its start instant; start instants are
returned as aware datetimes in CENTRAL so that ``isoformat()`` shows the offset in force
(-05:00 for the first pass through the repeated November hour, -06:00 for the second).

Labels follow ERCOT's interval-ending convention as SMT prints it: the label is the start's
wall-clock time plus 15 minutes, so the last interval of a day is labelled "00:00", the
spring-forward day jumps from "02:00" to "03:15", and on the fall-back day "01:15".."02:00"
appear twice (told apart by the aware start).

Beware: Python compares two datetimes that share a tzinfo by wall-clock time alone, ignoring
``fold``, so 01:00-05:00 and 01:00-06:00 in CENTRAL compare (and hash) equal. Use the position,
or convert to UTC, to compare, sort or key intervals.

Every function is pure; results for a given day are cached because the same few days are
asked about millions of times during a load.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

__all__ = [
    "CENTRAL",
    "INTERVAL",
    "Interval",
    "day_bounds",
    "interval_end",
    "interval_start",
    "intervals",
    "intervals_in_day",
    "operating_day_of",
    "position_of",
    "today_central",
]

CENTRAL: Final = ZoneInfo("America/Chicago")
INTERVAL: Final = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Interval:
    """One 15-minute interval of an operating day.

    ``start`` and ``end`` are aware datetimes in CENTRAL; ``label`` is the ending time "HH:MM"
    as printed in SMT files (see the module docstring for the DST days).
    """

    position: int
    start: datetime
    end: datetime
    label: str


def _require_date(day: date) -> None:
    # datetime is a subclass of date; accepting one would silently drop its time and zone.
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError(f"an operating day is a date, not {type(day).__name__}")
    if day == date.max:
        raise ValueError(f"{day.isoformat()} has no next midnight to end it")


def _require_aware(instant: datetime) -> None:
    if not isinstance(instant, datetime):
        raise TypeError(f"expected a datetime, not {type(instant).__name__}")
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{instant.isoformat()} has no time zone; pass an aware datetime")


@lru_cache(maxsize=4096)
def _bounds(day: date) -> tuple[datetime, datetime]:
    # Local midnight is never skipped or repeated in America/Chicago (changes happen at 02:00),
    # so combining with CENTRAL is unambiguous.
    start = datetime.combine(day, time(0), tzinfo=CENTRAL).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=CENTRAL).astimezone(UTC)
    return start, end


@lru_cache(maxsize=1024)
def _intervals(day: date) -> tuple[Interval, ...]:
    start_utc, end_utc = _bounds(day)
    count = (end_utc - start_utc) // INTERVAL
    result = []
    for position in range(count):
        start = (start_utc + INTERVAL * position).astimezone(CENTRAL)
        end = (start_utc + INTERVAL * (position + 1)).astimezone(CENTRAL)
        label = (start.replace(tzinfo=None) + INTERVAL).strftime("%H:%M")
        result.append(Interval(position, start, end, label))
    return tuple(result)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """Return the aware UTC instants of the day's local midnight and the next local midnight."""
    _require_date(day)
    return _bounds(day)


def intervals_in_day(day: date) -> int:
    """Return the number of 15-minute intervals in the operating day: 92, 96 or 100."""
    start, end = day_bounds(day)
    return (end - start) // INTERVAL


def _check_position(day: date, position: int) -> None:
    if isinstance(position, bool) or not isinstance(position, int):
        raise TypeError(f"an interval position is an int, not {type(position).__name__}")
    count = intervals_in_day(day)
    if not 0 <= position < count:
        raise ValueError(
            f"interval position {position} is out of range for {day.isoformat()} (0..{count - 1})"
        )


def interval_start(day: date, position: int) -> datetime:
    """Return the start of the interval at 0-based ``position``, aware in CENTRAL."""
    _check_position(day, position)
    return _intervals(day)[position].start


def interval_end(day: date, position: int) -> datetime:
    """Return the end of the interval at 0-based ``position``, aware in CENTRAL."""
    _check_position(day, position)
    return _intervals(day)[position].end


def intervals(day: date) -> list[Interval]:
    """Return every interval of the operating day in order (a new list each call)."""
    _require_date(day)
    return list(_intervals(day))


def position_of(day: date, instant: datetime) -> int:
    """Return the position of the interval of ``day`` that starts at ``instant``.

    The inverse of interval_start. Raises ValueError if ``instant`` is naive, is not on a
    15-minute boundary, or is not the start of one of the day's intervals (the next local
    midnight ends the day and starts no interval of it).
    """
    _require_aware(instant)
    start, end = day_bounds(day)
    position, remainder = divmod(instant - start, INTERVAL)
    if remainder or not start <= instant < end:
        raise ValueError(
            f"{instant.isoformat()} is not the start of an interval of {day.isoformat()}"
        )
    return position


def operating_day_of(instant: datetime) -> date:
    """Return the operating day containing the (aware) instant."""
    _require_aware(instant)
    return instant.astimezone(CENTRAL).date()


def today_central(now: datetime | None = None) -> date:
    """Return the current operating day; ``now`` (aware) can be given to make it testable."""
    if now is None:
        now = datetime.now(UTC)
    return operating_day_of(now)
