"""Availability exactly as seed 002 defines it, as pure functions over minutes.

"Availability will be measured as a percentage of minutes that the service is available
compared to the total number of minutes, excluding planned maintenance outage window time."

So for a period: total = every minute of it (a Central-time month has 44,580 minutes in March
and 44,700 in November), maintenance = the minutes inside announced planned-outage windows
(whatever the probes saw then), and availability = up / (total - maintenance). A minute no
probe observed was not shown to be available: by default it counts as not available
(``UnobservedMinutes.DOWN``); the other policy leaves it out of both sides.

Minutes are integers (minutes since the Unix epoch, UTC), so DST never bends the arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from meterhub_common.domain.operating_day import CENTRAL
from meterhub_notifier.settings import UnobservedMinutes


class MinuteState(StrEnum):
    UP = "up"
    DOWN = "down"
    MAINTENANCE = "maintenance"
    UNOBSERVED = "unobserved"


def minute_number(instant: datetime) -> int:
    return int(instant.timestamp() // 60)


def minute_instant(number: int) -> datetime:
    return datetime.fromtimestamp(number * 60, UTC)


def floor_minute(instant: datetime) -> datetime:
    return minute_instant(minute_number(instant))


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """Local midnight of the month's first day and of the next month's, as UTC instants."""
    start = datetime(year, month, 1, tzinfo=CENTRAL)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=CENTRAL)
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass
class Counts:
    total_minutes: int = 0
    maintenance_minutes: int = 0
    up_minutes: int = 0
    down_minutes: int = 0
    unobserved_minutes: int = 0

    def add(self, state: MinuteState) -> None:
        self.total_minutes += 1
        if state is MinuteState.UP:
            self.up_minutes += 1
        elif state is MinuteState.DOWN:
            self.down_minutes += 1
        elif state is MinuteState.MAINTENANCE:
            self.maintenance_minutes += 1
        else:
            self.unobserved_minutes += 1

    @property
    def measured_minutes(self) -> int:
        """Total minutes excluding planned maintenance: the seed's denominator."""
        return self.total_minutes - self.maintenance_minutes

    def unavailable_minutes(self, policy: UnobservedMinutes) -> int:
        return self.down_minutes + (
            self.unobserved_minutes if policy is UnobservedMinutes.DOWN else 0
        )

    def availability(self, policy: UnobservedMinutes) -> float | None:
        """Available minutes / counted minutes, in 0..1; None when no minute counts."""
        if policy is UnobservedMinutes.DOWN:
            denominator = self.measured_minutes
        else:
            denominator = self.up_minutes + self.down_minutes
        return None if denominator == 0 else self.up_minutes / denominator

    def error_budget(self, objective: float, policy: UnobservedMinutes) -> tuple[float, float]:
        """(allowed unavailable minutes, minutes of it left) for an objective like 0.99."""
        if policy is UnobservedMinutes.DOWN:
            counted = self.measured_minutes
        else:
            counted = self.up_minutes + self.down_minutes
        allowed = (1 - objective) * counted
        return allowed, allowed - self.unavailable_minutes(policy)


@dataclass
class Tally:
    """Counts for the whole period and for each Central calendar day in it."""

    total: Counts = field(default_factory=Counts)
    days: dict[date, Counts] = field(default_factory=dict)


def maintenance_minutes(windows: Iterable[tuple[datetime, datetime]]) -> set[int]:
    """Every minute that overlaps an announced window [start, end)."""
    minutes: set[int] = set()
    for start, end in windows:
        first = minute_number(start)
        # A minute [m, m+1) overlaps [start, end) when m < end.
        last_exclusive = -(-int(end.timestamp()) // 60)
        minutes.update(range(first, last_exclusive))
    return minutes


def classify(
    start: datetime,
    end: datetime,
    outcomes: Mapping[int, bool],
    maintenance: set[int],
) -> Iterator[tuple[int, MinuteState]]:
    """Each minute of [start, end) with its state; maintenance wins over any probe result."""
    for minute in range(minute_number(start), minute_number(end)):
        if minute in maintenance:
            yield minute, MinuteState.MAINTENANCE
        elif minute not in outcomes:
            yield minute, MinuteState.UNOBSERVED
        else:
            yield minute, MinuteState.UP if outcomes[minute] else MinuteState.DOWN


def tally(states: Iterable[tuple[int, MinuteState]]) -> Tally:
    result = Tally()
    day_of_hour: dict[int, date] = {}
    for minute, state in states:
        result.total.add(state)
        hour = minute // 60
        day = day_of_hour.get(hour)
        if day is None:
            # Central offsets are whole hours, so one lookup per hour finds the local day.
            day = minute_instant(hour * 60).astimezone(CENTRAL).date()
            day_of_hour[hour] = day
        result.days.setdefault(day, Counts()).add(state)
    return result


def combine(component_outcomes: Sequence[Mapping[int, bool]]) -> dict[int, bool]:
    """A market service built of several deployments is up in a minute only if all were.

    A minute some component did not observe is unobserved unless another one was down then.
    """
    if not component_outcomes:
        return {}
    every = set().union(*(o.keys() for o in component_outcomes))
    combined: dict[int, bool] = {}
    for minute in every:
        seen = [o.get(minute) for o in component_outcomes]
        if any(v is False for v in seen):
            combined[minute] = False
        elif all(v is True for v in seen):
            combined[minute] = True
    return combined


def day_range(start: datetime, end: datetime) -> list[date]:
    first = start.astimezone(CENTRAL).date()
    last = (end - timedelta(microseconds=1)).astimezone(CENTRAL).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
