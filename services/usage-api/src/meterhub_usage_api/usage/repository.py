"""Every usage read is one statement: the access periods and the data, joined in PostgreSQL.

Each query returns at least one row. Its ``visible`` column is false exactly when the caller
may not see the ESI ID anywhere in the requested range (or it does not exist); the other
columns are NULL on that row and on the single row of a visible range without data.

``:lo`` and ``:hi`` bound the operating days ``[lo, hi)`` (already raised to the role's
floor), so PostgreSQL prunes the monthly partitions of ``interval_reads``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache
from typing import Any

import asyncpg

from meterhub_common.models.usage_api import Role
from meterhub_usage_api.access.repository import periods_ctes, visible_periods_sql
from meterhub_usage_api.database import Reader


class Granularity(StrEnum):
    QUARTER_HOUR = "15min"
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


def _in_periods(column: str) -> str:
    return f"EXISTS (SELECT 1 FROM periods p WHERE {column} >= p.lo AND {column} < p.hi)"  # noqa: S608


@lru_cache(maxsize=64)
def intervals_sql(role: Role, all_versions: bool) -> str:
    current = "" if all_versions else " AND ir.is_current"
    return f"""
WITH {periods_ctes(role)}
SELECT v.visible, r.operating_day, r.version, r.is_current, r.interval_count,
       r.kwh, r.statuses, r.revision_at, r.superseded_at
FROM (SELECT EXISTS (SELECT 1 FROM periods) AS visible) v
LEFT JOIN LATERAL (
    SELECT ir.* FROM interval_reads ir
    WHERE ir.esiid = :esiid AND ir.channel = :channel
      AND ir.operating_day >= :lo AND ir.operating_day < :hi{current}
      AND {_in_periods("ir.operating_day")}
) r ON v.visible
ORDER BY r.operating_day, r.version DESC"""  # noqa: S608 (fixed fragments)


# The interval's start instant: local midnight of the operating day plus 15 minutes per
# position (minutes add as elapsed time, so DST days come out right).
_INTERVAL_START = (
    "((ir.operating_day::timestamp AT TIME ZONE 'America/Chicago')"
    " + (u.n - 1) * INTERVAL '15 minutes')"
)
_BUCKETS = {
    # Central offsets are whole hours, so UTC hours are local hours, the repeated
    # November hour included (as two buckets).
    Granularity.HOUR: f"date_trunc('hour', {_INTERVAL_START}, 'UTC')",
    Granularity.DAY: "ir.operating_day",
    Granularity.MONTH: "date_trunc('month', ir.operating_day)::date",
}


@lru_cache(maxsize=64)
def aggregate_sql(role: Role, granularity: Granularity) -> str:
    bucket = _BUCKETS[granularity]
    return f"""
WITH {periods_ctes(role)}
SELECT v.visible, r.bucket, r.kwh, r.interval_count, r.estimated_count, r.missing_count,
       r.revision_at
FROM (SELECT EXISTS (SELECT 1 FROM periods) AS visible) v
LEFT JOIN LATERAL (
    SELECT {bucket} AS bucket,
           sum(u.k)::text AS kwh,
           count(*) AS interval_count,
           count(*) FILTER (WHERE u.s = 'E' AND u.k IS NOT NULL) AS estimated_count,
           count(*) FILTER (WHERE u.k IS NULL) AS missing_count,
           max(ir.revision_at) AS revision_at
    FROM interval_reads ir
    CROSS JOIN LATERAL unnest(ir.kwh::numeric[], string_to_array(ir.statuses, NULL))
        WITH ORDINALITY AS u(k, s, n)
    WHERE ir.esiid = :esiid AND ir.channel = :channel
      AND ir.operating_day >= :lo AND ir.operating_day < :hi AND ir.is_current
      AND {_in_periods("ir.operating_day")}
    GROUP BY 1
) r ON v.visible
ORDER BY r.bucket"""  # noqa: S608 (fixed fragments)


@lru_cache(maxsize=64)
def daily_sql(role: Role, all_versions: bool) -> str:
    current = "" if all_versions else " AND d.is_current"
    return f"""
WITH {periods_ctes(role)}
SELECT v.visible, r.meter_number, r.read_date, r.version, r.is_current,
       r.start_reading::text AS start_reading, r.end_reading::text AS end_reading,
       r.kwh::text AS kwh, r.revision_at, r.superseded_at
FROM (SELECT EXISTS (SELECT 1 FROM periods) AS visible) v
LEFT JOIN LATERAL (
    SELECT d.* FROM daily_reads d
    WHERE d.esiid = :esiid AND d.read_date >= :lo AND d.read_date < :hi{current}
      AND {_in_periods("d.read_date")}
) r ON v.visible
ORDER BY r.read_date, r.meter_number, r.version DESC"""  # noqa: S608 (fixed fragments)


@lru_cache(maxsize=64)
def monthly_sql(role: Role, all_versions: bool) -> str:
    # A billing period is shown only if it lies wholly inside one visible period, so a REP or
    # a new occupant never sees a bill that began under someone else.
    current = "" if all_versions else " AND m.is_current"
    return f"""
WITH {periods_ctes(role)},
whole AS (
    SELECT GREATEST(w.from_day, :floor) AS lo, w.to_day AS hi
    FROM ({visible_periods_sql(role)}) w
)
SELECT v.visible, r.meter_number, r.period_start, r.period_end, r.version, r.is_current,
       r.kwh::text AS kwh, r.demand_kw::text AS demand_kw, r.revision_at, r.superseded_at
FROM (SELECT EXISTS (SELECT 1 FROM periods) AS visible) v
LEFT JOIN LATERAL (
    SELECT m.* FROM monthly_usage m
    WHERE m.esiid = :esiid AND m.period_start >= :lo AND m.period_start < :hi{current}
      AND EXISTS (
          SELECT 1 FROM whole p WHERE m.period_start >= p.lo AND m.period_end <= p.hi
      )
) r ON v.visible
ORDER BY r.period_start, r.meter_number, r.version DESC"""  # noqa: S608 (fixed fragments)


@lru_cache(maxsize=16)
def premise_sql(role: Role) -> str:
    return f"""
WITH {periods_ctes(role)}
SELECT e.esiid, e.tdsp_duns, e.premise_type, e.address_line, e.city, e.state, e.zip_code,
       (SELECT COALESCE(json_agg(json_build_object(
                   'meter_number', m.meter_number,
                   'multiplier', m.multiplier::text,
                   'manufacturer', m.manufacturer,
                   'model', m.model,
                   'firmware_version', m.firmware_version,
                   'install_date', m.install_date,
                   'provision_date', m.provision_date,
                   'removal_date', m.removal_date) ORDER BY m.meter_number), '[]')
        FROM meters m WHERE m.esiid = e.esiid)::text AS meters
FROM esiids e
WHERE e.esiid = :esiid AND EXISTS (SELECT 1 FROM periods)"""  # noqa: S608 (fixed fragments)


@dataclass(frozen=True, slots=True)
class ReadWindow:
    """The access parameters and the clipped day range ``[lo, hi)`` of one read."""

    params: dict[str, Any]
    lo: date
    hi: date

    def with_(self, **extra: Any) -> dict[str, Any]:
        return {**self.params, "lo": self.lo, "hi": self.hi, **extra}


def numeric_array_items(text: str | None) -> list[str | None] | None:
    """The elements of ``interval_reads.kwh``, PostgreSQL's array text of the values
    (``{0.251,NULL,1.0}``).

    One string per day instead of 96 (``kwh::text[]``) halves both PostgreSQL's and the
    driver's work on a 40-day read. A decimal is never quoted in an array's text (no
    separators, braces, quotes or spaces in it), so a split is exact.
    """
    if text is None:
        return None
    if not text.startswith("{"):
        text = text.partition("=")[2]  # "[0:95]={...}": lower bounds other than 1
    if text == "{}":
        return []
    items: list[str | None] = text[1:-1].split(",")  # type: ignore[assignment]
    if "NULL" in items:
        items = [None if item == "NULL" else item for item in items]
    return items


async def interval_rows(
    reader: Reader,
    role: Role,
    window: ReadWindow,
    *,
    channel: int,
    all_versions: bool,
) -> list[dict[str, Any]]:
    """The rows of ``intervals_sql``, with ``kwh`` as the list of each interval's text."""
    rows = await reader.fetch(intervals_sql(role, all_versions), window.with_(channel=channel))
    parsed = []
    for row in rows:
        values = dict(row)
        values["kwh"] = numeric_array_items(values["kwh"])
        parsed.append(values)
    return parsed


async def aggregate_rows(
    reader: Reader,
    role: Role,
    window: ReadWindow,
    *,
    channel: int,
    granularity: Granularity,
) -> list[asyncpg.Record]:
    return await reader.fetch(aggregate_sql(role, granularity), window.with_(channel=channel))


async def daily_rows(
    reader: Reader, role: Role, window: ReadWindow, *, all_versions: bool
) -> list[asyncpg.Record]:
    return await reader.fetch(daily_sql(role, all_versions), window.with_())


async def monthly_rows(
    reader: Reader,
    role: Role,
    window: ReadWindow,
    *,
    floor: date,
    all_versions: bool,
) -> list[asyncpg.Record]:
    return await reader.fetch(monthly_sql(role, all_versions), window.with_(floor=floor))


async def premise_row(reader: Reader, role: Role, window: ReadWindow) -> asyncpg.Record | None:
    rows = await reader.fetch(premise_sql(role), window.with_())
    return rows[0] if rows else None
