"""Monthly billed usage: one meter's kWh (and demand) for one billing period.

A billing period runs from PERIOD_START (the meter read that opens it) up to, not including,
PERIOD_END (the read that closes it and opens the next period), so consecutive periods share a
date and never overlap. Versioned like interval data, keyed by ESI ID, meter and PERIOD_START:
a newer RECORD_TIMESTAMP with different values becomes the current version (a rebill may move
PERIOD_END); the earlier version is kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Final

import asyncpg

from meterhub_common.domain import today_central
from meterhub_common.models.ingest import FileKind
from meterhub_ingest.csvfiles.common import (
    RECORD_TIMESTAMP_SKEW,
    Column,
    Layout,
    Reject,
    Row,
    RowValidator,
    StagingTable,
    finish,
    mark_duplicates,
    mark_outside_territory,
    mark_unknown_meters,
    optional,
    parse_date,
    parse_decimal,
    parse_esiid,
    parse_text,
    parse_timestamp,
    report_date,
    report_esiid,
    required,
    stage_rows,
)
from meterhub_ingest.files.report import LoadSummary
from meterhub_ingest.lse.codes import ResultCode

MAX_PERIOD_DAYS: Final = 62
"""The longest billing period accepted: two regular cycles (a missed read), not a typo's year."""

VALUE_DIGITS: Final = 10  # numeric(14, 4)

LAYOUT: Final = Layout(
    kind=FileKind.MONTHLY_USAGE.value,
    columns=(
        Column("ESIID", "text", True, "1-64 ASCII letters and digits; in the sender's territory"),
        Column("METER_NUMBER", "text", True, "a meter of the ESI ID (from meter-sync)"),
        Column("PERIOD_START", "date", True, "the meter read date that opens the period"),
        Column(
            "PERIOD_END",
            "date",
            True,
            f"the read date that closes it (exclusive); after PERIOD_START, at most "
            f"{MAX_PERIOD_DAYS} days later, not after today",
        ),
        Column(
            "KWH", "decimal", True, "billed kWh; >= 0; at most 10 digits before the point, 4 after"
        ),
        Column(
            "DEMAND_KW", "decimal", False, "billed demand in kW; same limits; blank when not billed"
        ),
        Column(
            "RECORD_TIMESTAMP",
            "timestamp",
            True,
            "when the TDSP made this version: ISO 8601 with a UTC offset; not in the future",
        ),
    ),
)

STAGE: Final = StagingTable(
    name="csv_stage_monthly_usage",
    create_sql="""
        CREATE TEMP TABLE csv_stage_monthly_usage (
            line integer PRIMARY KEY,
            code text,
            message text,
            esiid text,
            operating_day date,
            meter_number text,
            period_start date,
            period_end date,
            kwh numeric,
            demand_kw numeric,
            record_ts timestamptz,
            prev_version integer,
            checked boolean NOT NULL DEFAULT false
        ) ON COMMIT DROP
    """,
    columns=("meter_number", "period_start", "period_end", "kwh", "demand_kw", "record_ts"),
)

# 13 when the values equal the current version's; otherwise 05 unless strictly newer.
_COMPARE_VERSIONS: Final = """
    UPDATE csv_stage_monthly_usage s SET code = c.code, message = c.message
    FROM (
        SELECT x.line,
               CASE WHEN v.same THEN '13' ELSE '05' END AS code,
               CASE WHEN v.same
                   THEN format('Identical to version %s, the current one: nothing changed.',
                               d.version)
                   ELSE format('RECORD_TIMESTAMP %s is not newer than %s of version %s, the '
                               'current one; not loaded.',
                               to_char(x.record_ts AT TIME ZONE 'UTC',
                                       'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                               to_char(d.record_created_at AT TIME ZONE 'UTC',
                                       'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                               d.version)
               END AS message
        FROM csv_stage_monthly_usage x
        JOIN monthly_usage d ON d.is_current
                     AND d.esiid = x.esiid AND d.meter_number = x.meter_number
                     AND d.period_start = x.period_start
        CROSS JOIN LATERAL (
            SELECT x.period_end = d.period_end AND x.kwh = d.kwh
                            AND x.demand_kw IS NOT DISTINCT FROM d.demand_kw AS same
        ) v
        WHERE x.code IS NULL AND (v.same OR x.record_ts <= d.record_created_at)
    ) c
    WHERE s.line = c.line
"""

# Overlaps are decided in file order, as if each row were applied before the next is read: a
# row is checked against the meter's periods as they stand after the earlier rows of the file
# (the stored current periods, as replaced or added by earlier accepted rows). Each pass takes
# every meter's next unchecked row; the loader repeats it until no row is left.
_CHECK_NEXT_OVERLAPS: Final = """
    WITH next_rows AS (
        SELECT DISTINCT ON (esiid, meter_number)
               line, esiid, meter_number, period_start, period_end
        FROM csv_stage_monthly_usage
        WHERE code IS NULL AND NOT checked
        ORDER BY esiid, meter_number, line
    ),
    periods AS (
        SELECT a.esiid, a.meter_number, a.period_start, a.period_end, a.line
        FROM csv_stage_monthly_usage a
        JOIN next_rows n ON n.esiid = a.esiid AND n.meter_number = a.meter_number
        WHERE a.code IS NULL AND a.checked
        UNION ALL
        SELECT m.esiid, m.meter_number, m.period_start, m.period_end, NULL
        FROM monthly_usage m
        JOIN next_rows n ON n.esiid = m.esiid AND n.meter_number = m.meter_number
        WHERE m.is_current
          AND NOT EXISTS (
              SELECT 1 FROM csv_stage_monthly_usage a
              WHERE a.code IS NULL AND a.checked AND a.esiid = m.esiid
                AND a.meter_number = m.meter_number AND a.period_start = m.period_start)
    ),
    clash AS (
        SELECT DISTINCT ON (n.line) n.line, p.period_start, p.period_end, p.line AS other_line
        FROM next_rows n
        JOIN periods p
          ON p.esiid = n.esiid AND p.meter_number = n.meter_number
         AND p.period_start <> n.period_start
         AND p.period_start < n.period_end AND n.period_start < p.period_end
        ORDER BY n.line, p.period_start
    )
    UPDATE csv_stage_monthly_usage s
    SET checked = true,
        code = CASE WHEN c.line IS NOT NULL THEN '22' END,
        message = CASE WHEN c.line IS NOT NULL THEN format(
            'Billing period %s to %s overlaps the billing period %s to %s of meter %s %s.',
            s.period_start, s.period_end, c.period_start, c.period_end, s.meter_number,
            CASE WHEN c.other_line IS NULL THEN 'already loaded'
                 ELSE format('loaded from line %s of this file', c.other_line) END) END
    FROM next_rows n
    LEFT JOIN clash c ON c.line = n.line
    WHERE s.line = n.line
"""

_FIND_PREVIOUS: Final = """
    UPDATE csv_stage_monthly_usage s SET prev_version = d.version
    FROM monthly_usage d
    WHERE s.code IS NULL AND d.is_current
      AND d.esiid = s.esiid AND d.meter_number = s.meter_number
      AND d.period_start = s.period_start
"""

_SUPERSEDE: Final = """
    UPDATE monthly_usage d SET is_current = false, superseded_at = $1
    FROM csv_stage_monthly_usage s
    WHERE s.code IS NULL AND d.version = s.prev_version
      AND d.esiid = s.esiid AND d.meter_number = s.meter_number
      AND d.period_start = s.period_start
"""

_INSERT: Final = """
    INSERT INTO monthly_usage (esiid, meter_number, period_start, version, period_end,
                               is_current, kwh, demand_kw, record_created_at, revision_at,
                               source_file_id)
    SELECT esiid, meter_number, period_start, coalesce(prev_version, 0) + 1, period_end, true,
           kwh, demand_kw, record_ts, $1, $2
    FROM csv_stage_monthly_usage WHERE code IS NULL
"""

# Every day of the period, told to the REP of record on that day (a period may span a switch).
_EVENTS: Final = """
    INSERT INTO usage_change_events (file_id, rep_duns, operating_day, kind, supplemental,
                                     esiid_count)
    SELECT $1, h.rep_duns, day.operating_day, $2, s.prev_version IS NOT NULL,
           count(DISTINCT s.esiid)
    FROM csv_stage_monthly_usage s
    JOIN service_history h
      ON h.esiid = s.esiid AND h.start_date < s.period_end
     AND (h.end_date IS NULL OR s.period_start < h.end_date)
    CROSS JOIN LATERAL (
        SELECT greatest(s.period_start, h.start_date) + n AS operating_day
        FROM generate_series(
            0,
            least(s.period_end, coalesce(h.end_date, s.period_end))
              - greatest(s.period_start, h.start_date) - 1) AS n
    ) day
    WHERE s.code IS NULL
    GROUP BY h.rep_duns, day.operating_day, s.prev_version IS NOT NULL
"""

_MARK_LOADED: Final = """
    UPDATE csv_stage_monthly_usage
    SET code = '00',
        message = CASE WHEN prev_version IS NULL THEN 'Loaded as version 1.'
                       ELSE format('Loaded as version %s; version %s is kept as history.',
                                   prev_version + 1, prev_version) END
    WHERE code IS NULL
"""


def _validator(now: datetime) -> RowValidator:
    today = today_central(now)
    latest = now + RECORD_TIMESTAMP_SKEW
    longest = timedelta(days=MAX_PERIOD_DAYS)

    def validate(row: Row) -> tuple[str, date, date, Decimal, Decimal | None, datetime]:
        parse_esiid("ESIID", required(row, "ESIID"))
        meter = parse_text("METER_NUMBER", required(row, "METER_NUMBER"), max_length=64)
        start = parse_date("PERIOD_START", required(row, "PERIOD_START"))
        end = parse_date("PERIOD_END", required(row, "PERIOD_END"))
        kwh = parse_decimal(
            "KWH", required(row, "KWH"), integer_digits=VALUE_DIGITS, minimum=Decimal(0)
        )
        demand_raw = optional(row, "DEMAND_KW")
        demand = (
            None
            if demand_raw is None
            else parse_decimal(
                "DEMAND_KW", demand_raw, integer_digits=VALUE_DIGITS, minimum=Decimal(0)
            )
        )
        stamp = parse_timestamp("RECORD_TIMESTAMP", required(row, "RECORD_TIMESTAMP"))
        if end <= start:
            raise Reject(
                ResultCode.INVALID_VALUE,
                f"PERIOD_END {end.isoformat()} is not after PERIOD_START {start.isoformat()}.",
            )
        if end - start > longest:
            raise Reject(
                ResultCode.INVALID_VALUE,
                f"The billing period {start.isoformat()} to {end.isoformat()} is "
                f"{(end - start).days} days long; at most {MAX_PERIOD_DAYS} are accepted.",
            )
        if end > today:
            raise Reject(
                ResultCode.FUTURE_DATED,
                f"PERIOD_END {end.isoformat()} is after today ({today.isoformat()} in Central "
                "time): the period has not been read yet.",
            )
        if stamp > latest:
            raise Reject(
                ResultCode.FUTURE_DATED,
                f"RECORD_TIMESTAMP {row['RECORD_TIMESTAMP']} is in the future.",
            )
        return meter, start, end, kwh, demand, stamp

    return validate


def _report_fields(row: Row) -> tuple[str | None, date | None]:
    return report_esiid(row["ESIID"]), report_date(row["PERIOD_START"])


async def load(
    conn: asyncpg.Connection,
    *,
    file_id: uuid.UUID,
    sender_duns: str,
    lines: Iterator[str],
    now: datetime,
) -> LoadSummary:
    """Validate, stage and apply a monthly-usage file; write its report and change events."""
    await stage_rows(
        conn,
        STAGE,
        lines=lines,
        layout=LAYOUT,
        validate=_validator(now),
        report_fields=_report_fields,
    )
    table = STAGE.name
    await mark_duplicates(
        conn,
        table,
        key=("esiid", "meter_number", "period_start"),
        describe="format('ESI ID %s, meter %s and PERIOD_START %s', s.esiid, s.meter_number, "
        "s.period_start)",
    )
    await mark_outside_territory(conn, table, sender_duns)
    await mark_unknown_meters(conn, table)
    await conn.execute(_COMPARE_VERSIONS)
    while await conn.execute(_CHECK_NEXT_OVERLAPS) != "UPDATE 0":
        pass
    await conn.execute(_FIND_PREVIOUS)
    await conn.execute(_SUPERSEDE, now)
    await conn.execute(_INSERT, now, file_id)
    await conn.execute(_EVENTS, file_id, FileKind.MONTHLY_USAGE.value)
    await conn.execute(_MARK_LOADED)
    return await finish(conn, file_id=file_id, table=table)
