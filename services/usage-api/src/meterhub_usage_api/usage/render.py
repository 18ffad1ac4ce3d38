"""Usage rows as JSON and as SMT's CSV layouts.

kWh values are the exact decimals TDSPs sent, carried as strings from PostgreSQL's numeric to
the client (never through a float). Instants are ISO 8601 in Central prevailing time with the
offset in force, from the shared operating-day arithmetic, so the repeated November hour reads
``01:00-05:00`` then ``01:00-06:00``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, cast

import asyncpg
import orjson

from meterhub_common.domain.operating_day import CENTRAL, day_bounds, intervals
from meterhub_usage_api.usage.repository import Granularity

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
JSON_MEDIA_TYPE = "application/json"

CHANNEL_LABELS = {4: "Consumption", 1: "Surplus Generation"}


@dataclass(frozen=True, slots=True)
class Span:
    """An interval's start and end as the renderers print them."""

    start_iso: str
    end_iso: str
    start_hhmm: str
    end_hhmm: str
    start_utc: datetime


@lru_cache(maxsize=2048)
def spans(day: date) -> tuple[Span, ...]:
    return tuple(
        Span(
            i.start.isoformat(),
            i.end.isoformat(),
            i.start.strftime("%H:%M"),
            i.end.strftime("%H:%M"),
            i.start.astimezone(UTC),
        )
        for i in intervals(day)
    )


def local_iso(value: datetime | None) -> str | None:
    return None if value is None else _local_iso(value)


@lru_cache(maxsize=4096)
def _local_iso(value: datetime) -> str:
    # The records of one TDSP file share their revision time, so a 40-day read converts the
    # same instant 40 times; the time-zone conversion costs six times the lookup.
    return value.astimezone(CENTRAL).isoformat()


def _status(kwh: str | None, flag: str) -> str | None:
    if kwh is None:
        return None
    return flag if flag in ("A", "E") else None


@lru_cache(maxsize=2048)
def _item_prefixes(day: date) -> tuple[str, ...]:
    # The fixed part of each interval's JSON object; only kWh and status vary by record.
    return tuple(f'{{"start":"{s.start_iso}","end":"{s.end_iso}","kwh":' for s in spans(day))


_JSON_STATUS = {"A": ',"status":"A"}', "E": ',"status":"E"}'}
_JSON_NO_STATUS = ',"status":null}'
_JSON_MISSING = 'null,"status":null}'


def _flags(statuses: str, count: int) -> str:
    """One status character per interval; past the end of ``statuses``, none."""
    return statuses[:count].ljust(count, "-")


def _fill(segments: tuple[str, ...], values: Sequence[str]) -> str:
    """``segments[0] + values[0] + segments[1] + ... + segments[-1]``, by slice assignment
    and one join (a quarter of the time of ``%`` formatting a template)."""
    parts = [""] * (2 * len(segments) - 1)
    parts[0::2] = segments
    parts[1::2] = values
    return "".join(parts)


@lru_cache(maxsize=1024)
def _json_segments(day: date, statuses: str) -> tuple[str, ...]:
    # The day's intervals array around its kWh values: records of a day share their
    # statuses (all A, mostly), so one entry serves them.
    prefixes = _item_prefixes(day)
    segments = ["["]
    for prefix, flag in zip(prefixes, _flags(statuses, len(prefixes)), strict=True):
        segments[-1] += f'{prefix}"'
        segments.append(f'"{_JSON_STATUS.get(flag, _JSON_NO_STATUS)},')
    segments[-1] = segments[-1][:-1] + "]"
    return tuple(segments)


def _intervals_fragment(day: date, kwh: Sequence[str | None], statuses: str) -> orjson.Fragment:
    """The day's intervals as a JSON array, written directly: a 40-day read has 3,840 of them,
    and building a dict for each costs three times as much as these strings."""
    prefixes = _item_prefixes(day)
    count = len(prefixes)
    # all(): every interval present, in a truth test per value rather than an equality test
    # with None (kWh are non-empty numeric text: no quote or backslash to escape).
    if len(kwh) == count and all(kwh):
        return orjson.Fragment(_fill(_json_segments(day, statuses), cast("list[str]", kwh)))
    values = list(kwh[:count])
    values.extend([None] * (count - len(values)))
    items = [
        f'{prefix}"{value}"{_JSON_STATUS.get(flag, _JSON_NO_STATUS)}'
        if value is not None
        else prefix + _JSON_MISSING
        for prefix, value, flag in zip(prefixes, values, _flags(statuses, count), strict=True)
    ]
    return orjson.Fragment("[" + ",".join(items) + "]")


def intervals_json(header: dict[str, Any], rows: Sequence[Mapping[str, Any]]) -> bytes:
    days = [
        {
            "operating_day": row["operating_day"],
            "version": row["version"],
            "current": row["is_current"],
            "revision_at": local_iso(row["revision_at"]),
            "superseded_at": local_iso(row["superseded_at"]),
            "interval_count": row["interval_count"],
            "intervals": _intervals_fragment(row["operating_day"], row["kwh"], row["statuses"]),
        }
        for row in rows
    ]
    return orjson.dumps({**header, "days": days})


def bucket_bounds(
    granularity: Granularity, bucket: Any, lo: date, hi: date
) -> tuple[datetime, datetime]:
    """Start and end of an aggregate, aware in Central, clipped to the read's days."""
    if granularity is Granularity.HOUR:
        start = bucket.astimezone(CENTRAL)
        return start, (bucket + timedelta(hours=1)).astimezone(CENTRAL)
    if granularity is Granularity.DAY:
        first, last = bucket, bucket
    else:
        next_month = (bucket.replace(day=28) + timedelta(days=4)).replace(day=1)
        first, last = max(bucket, lo), min(next_month, hi) - timedelta(days=1)
    return day_bounds(first)[0].astimezone(CENTRAL), day_bounds(last)[1].astimezone(CENTRAL)


def aggregates(
    granularity: Granularity, rows: Sequence[asyncpg.Record], lo: date, hi: date
) -> list[dict[str, Any]]:
    totals = []
    for row in rows:
        start, end = bucket_bounds(granularity, row["bucket"], lo, hi)
        totals.append(
            {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "kwh": row["kwh"],
                "interval_count": row["interval_count"],
                "estimated_count": row["estimated_count"],
                "missing_count": row["missing_count"],
                "revision_at": local_iso(row["revision_at"]),
            }
        )
    return totals


def aggregates_json(header: dict[str, Any], totals: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({**header, "totals": totals})


# Cached like _local_iso: a CSV line prefix per record needs both, and strftime with the
# time-zone conversion costs more than the lookup.
@lru_cache(maxsize=4096)
def _mdy(day: date) -> str:
    return day.strftime("%m/%d/%Y")


def _revision(value: datetime | None) -> str:
    return "" if value is None else _central_mdy_hms(value)


@lru_cache(maxsize=4096)
def _central_mdy_hms(value: datetime) -> str:
    return value.astimezone(CENTRAL).strftime("%m/%d/%Y %H:%M:%S")


INTERVAL_CSV_HEADER = (
    "ESIID,USAGE_DATE,REVISION_DATE,USAGE_START_TIME,USAGE_END_TIME,USAGE_KWH,"
    "ESTIMATED_ACTUAL,CONSUMPTION_SURPLUSGENERATION"
)


# Stands for a line's "ESIID,USAGE_DATE,REVISION_DATE," in a day's CSV template.
_CSV_LINE_PREFIX = "\x00"


@lru_cache(maxsize=1024)
def _csv_segments(day: date, statuses: str, label: str) -> tuple[str, ...]:
    # The day's lines around their kWh values, with _CSV_LINE_PREFIX for each line's record
    # prefix (see _json_segments); only for records with every interval present.
    day_spans = spans(day)
    segments = [""]
    for span, flag in zip(day_spans, _flags(statuses, len(day_spans)), strict=True):
        segments[-1] += f"{_CSV_LINE_PREFIX}{span.start_hhmm},{span.end_hhmm},"
        segments.append(f",{_status('', flag) or ''},{label}\r\n")
    return tuple(segments)


def intervals_csv(esiid: str, channel: int, rows: Sequence[Mapping[str, Any]]) -> bytes:
    """SMT's 15-minute interval CSV: one line per interval, in interval order.

    A missing interval keeps its line with USAGE_KWH and ESTIMATED_ACTUAL empty. With all
    versions, each version's day follows the newer one (REVISION_DATE tells them apart).
    """
    label = CHANNEL_LABELS[channel]
    parts = [INTERVAL_CSV_HEADER, "\r\n"]
    for row in rows:
        day = row["operating_day"]
        kwh, statuses = row["kwh"], row["statuses"]
        count = len(kwh)
        prefix = f"{esiid},{_mdy(day)},{_revision(row['revision_at'])},"
        day_spans = spans(day)
        if count == len(day_spans) and all(kwh):
            lines = _fill(_csv_segments(day, statuses, label), cast("list[str]", kwh))
            parts.append(lines.replace(_CSV_LINE_PREFIX, prefix))
            continue
        for position, span in enumerate(day_spans):
            value = kwh[position] if position < count else None
            flag = _status(value, statuses[position] if position < len(statuses) else "-")
            parts.append(
                f"{prefix}{span.start_hhmm},{span.end_hhmm},{value or ''},{flag or ''},{label}\r\n"
            )
    return "".join(parts).encode()


AGGREGATE_CSV_HEADER = (
    "ESIID,START,END,USAGE_KWH,INTERVAL_COUNT,ESTIMATED_COUNT,MISSING_COUNT,"
    "CONSUMPTION_SURPLUSGENERATION"
)


def aggregates_csv(esiid: str, channel: int, totals: list[dict[str, Any]]) -> bytes:
    label = CHANNEL_LABELS[channel]
    lines = [AGGREGATE_CSV_HEADER]
    lines.extend(
        f"{esiid},{t['start']},{t['end']},{t['kwh'] or ''},{t['interval_count']},"
        f"{t['estimated_count']},{t['missing_count']},{label}"
        for t in totals
    )
    return ("\r\n".join(lines) + "\r\n").encode()


def daily_reads(rows: Sequence[asyncpg.Record]) -> list[dict[str, Any]]:
    return [
        {
            "meter_number": row["meter_number"],
            "read_date": row["read_date"],
            "version": row["version"],
            "current": row["is_current"],
            "start_reading": row["start_reading"],
            "end_reading": row["end_reading"],
            "kwh": row["kwh"],
            "revision_at": local_iso(row["revision_at"]),
            "superseded_at": local_iso(row["superseded_at"]),
        }
        for row in rows
    ]


DAILY_CSV_HEADER = "ESIID,USAGE_DATE,REVISION_DATE,METER_NUMBER,START_READING,END_READING,USAGE_KWH"


def daily_csv(esiid: str, rows: Sequence[asyncpg.Record]) -> bytes:
    lines = [DAILY_CSV_HEADER]
    lines.extend(
        f"{esiid},{_mdy(row['read_date'])},{_revision(row['revision_at'])},{row['meter_number']},"
        f"{row['start_reading']},{row['end_reading']},{row['kwh']}"
        for row in rows
    )
    return ("\r\n".join(lines) + "\r\n").encode()


def monthly_usage(rows: Sequence[asyncpg.Record]) -> list[dict[str, Any]]:
    return [
        {
            "meter_number": row["meter_number"],
            "period_start": row["period_start"],
            "period_end": row["period_end"],
            "version": row["version"],
            "current": row["is_current"],
            "kwh": row["kwh"],
            "demand_kw": row["demand_kw"],
            "revision_at": local_iso(row["revision_at"]),
            "superseded_at": local_iso(row["superseded_at"]),
        }
        for row in rows
    ]


MONTHLY_CSV_HEADER = "ESIID,METER_NUMBER,START_DATE,END_DATE,REVISION_DATE,USAGE_KWH,DEMAND_KW"


def monthly_csv(esiid: str, rows: Sequence[asyncpg.Record]) -> bytes:
    lines = [MONTHLY_CSV_HEADER]
    lines.extend(
        f"{esiid},{row['meter_number']},{_mdy(row['period_start'])},{_mdy(row['period_end'])},"
        f"{_revision(row['revision_at'])},{row['kwh']},{row['demand_kw'] or ''}"
        for row in rows
    )
    return ("\r\n".join(lines) + "\r\n").encode()


def json_bytes(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body)
