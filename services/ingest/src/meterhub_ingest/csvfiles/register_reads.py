"""Daily register reads: one meter's start and end register reading for one operating day.

Versioned like interval data: a row for an ESI ID, meter and read date that is already loaded
becomes the new current version when its RECORD_TIMESTAMP is newer and its values differ; the
earlier version is kept (``is_current`` false, ``superseded_at`` set).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime
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

KWH_TOLERANCE: Final = Decimal("0.5")
"""KWH may differ from (END_READING - START_READING) x multiplier by at most this much, so that
a TDSP may round the day's kWh to a whole number."""

READING_DIGITS: Final = 10  # numeric(14, 4)

LAYOUT: Final = Layout(
    kind=FileKind.REGISTER_READS.value,
    columns=(
        Column("ESIID", "text", True, "1-64 ASCII letters and digits; in the sender's territory"),
        Column("METER_NUMBER", "text", True, "a meter of the ESI ID (from meter-sync)"),
        Column("READ_DATE", "date", True, "the operating day read; before today"),
        Column(
            "START_READING", "decimal", True, ">= 0; at most 10 digits before the point, 4 after"
        ),
        Column("END_READING", "decimal", True, ">= START_READING; same limits"),
        Column(
            "KWH",
            "decimal",
            True,
            "(END_READING - START_READING) x the meter's multiplier, within 0.5 kWh; same limits",
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
    name="csv_stage_register_reads",
    create_sql="""
        CREATE TEMP TABLE csv_stage_register_reads (
            line integer PRIMARY KEY,
            code text,
            message text,
            esiid text,
            operating_day date,
            meter_number text,
            read_date date,
            start_reading numeric,
            end_reading numeric,
            kwh numeric,
            record_ts timestamptz,
            prev_version integer
        ) ON COMMIT DROP
    """,
    columns=("meter_number", "read_date", "start_reading", "end_reading", "kwh", "record_ts"),
)

_CHECK_KWH: Final = """
    UPDATE csv_stage_register_reads s
    SET code = '01',
        message = format(
            'KWH %s does not match (END_READING %s - START_READING %s) x meter multiplier %s '
            '= %s within %s kWh.',
            trim_scale(s.kwh), trim_scale(s.end_reading), trim_scale(s.start_reading),
            trim_scale(m.multiplier),
            trim_scale((s.end_reading - s.start_reading) * m.multiplier), $1::numeric)
    FROM meters m
    WHERE s.code IS NULL AND m.esiid = s.esiid AND m.meter_number = s.meter_number
      AND abs(s.kwh - (s.end_reading - s.start_reading) * m.multiplier) > $1
"""

# 13 when the values equal the current version's; otherwise 05 unless strictly newer.
_COMPARE_VERSIONS: Final = """
    UPDATE csv_stage_register_reads s SET code = c.code, message = c.message
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
        FROM csv_stage_register_reads x
        JOIN daily_reads d ON d.is_current
                     AND d.esiid = x.esiid AND d.meter_number = x.meter_number
                     AND d.read_date = x.read_date
        CROSS JOIN LATERAL (
            SELECT x.start_reading = d.start_reading AND x.end_reading = d.end_reading
                            AND x.kwh = d.kwh AS same
        ) v
        WHERE x.code IS NULL AND (v.same OR x.record_ts <= d.record_created_at)
    ) c
    WHERE s.line = c.line
"""

_FIND_PREVIOUS: Final = """
    UPDATE csv_stage_register_reads s SET prev_version = d.version
    FROM daily_reads d
    WHERE s.code IS NULL AND d.is_current
      AND d.esiid = s.esiid AND d.meter_number = s.meter_number AND d.read_date = s.read_date
"""

_SUPERSEDE: Final = """
    UPDATE daily_reads d SET is_current = false, superseded_at = $1
    FROM csv_stage_register_reads s
    WHERE s.code IS NULL AND d.version = s.prev_version
      AND d.esiid = s.esiid AND d.meter_number = s.meter_number AND d.read_date = s.read_date
"""

_INSERT: Final = """
    INSERT INTO daily_reads (esiid, meter_number, read_date, version, is_current, start_reading,
                             end_reading, kwh, record_created_at, revision_at, source_file_id)
    SELECT esiid, meter_number, read_date, coalesce(prev_version, 0) + 1, true, start_reading,
           end_reading, kwh, record_ts, $1, $2
    FROM csv_stage_register_reads WHERE code IS NULL
"""

# The REP of record on the read date is told; a day nobody served tells nobody.
_EVENTS: Final = """
    INSERT INTO usage_change_events (file_id, rep_duns, operating_day, kind, supplemental,
                                     esiid_count)
    SELECT $1, h.rep_duns, s.read_date, $2, s.prev_version IS NOT NULL, count(DISTINCT s.esiid)
    FROM csv_stage_register_reads s
    JOIN service_history h
      ON h.esiid = s.esiid AND h.start_date <= s.read_date
     AND (h.end_date IS NULL OR s.read_date < h.end_date)
    WHERE s.code IS NULL
    GROUP BY h.rep_duns, s.read_date, s.prev_version IS NOT NULL
"""

_MARK_LOADED: Final = """
    UPDATE csv_stage_register_reads
    SET code = '00',
        message = CASE WHEN prev_version IS NULL THEN 'Loaded as version 1.'
                       ELSE format('Loaded as version %s; version %s is kept as history.',
                                   prev_version + 1, prev_version) END
    WHERE code IS NULL
"""


def _validator(now: datetime) -> RowValidator:
    today = today_central(now)
    latest = now + RECORD_TIMESTAMP_SKEW

    def validate(row: Row) -> tuple[str, date, Decimal, Decimal, Decimal, datetime]:
        parse_esiid("ESIID", required(row, "ESIID"))
        meter = parse_text("METER_NUMBER", required(row, "METER_NUMBER"), max_length=64)
        read_date = parse_date("READ_DATE", required(row, "READ_DATE"))
        start = parse_decimal(
            "START_READING",
            required(row, "START_READING"),
            integer_digits=READING_DIGITS,
            minimum=Decimal(0),
        )
        end = parse_decimal(
            "END_READING",
            required(row, "END_READING"),
            integer_digits=READING_DIGITS,
            minimum=Decimal(0),
        )
        kwh = parse_decimal(
            "KWH", required(row, "KWH"), integer_digits=READING_DIGITS, minimum=Decimal(0)
        )
        stamp = parse_timestamp("RECORD_TIMESTAMP", required(row, "RECORD_TIMESTAMP"))
        if end < start:
            raise Reject(
                ResultCode.INVALID_VALUE,
                f"END_READING {row['END_READING']} is less than START_READING "
                f"{row['START_READING']}.",
            )
        if read_date >= today:
            raise Reject(
                ResultCode.FUTURE_DATED,
                f"READ_DATE {read_date.isoformat()} has not ended yet "
                f"(today is {today.isoformat()} in Central time).",
            )
        if stamp > latest:
            raise Reject(
                ResultCode.FUTURE_DATED,
                f"RECORD_TIMESTAMP {row['RECORD_TIMESTAMP']} is in the future.",
            )
        return meter, read_date, start, end, kwh, stamp

    return validate


def _report_fields(row: Row) -> tuple[str | None, date | None]:
    return report_esiid(row["ESIID"]), report_date(row["READ_DATE"])


async def load(
    conn: asyncpg.Connection,
    *,
    file_id: uuid.UUID,
    sender_duns: str,
    lines: Iterator[str],
    now: datetime,
) -> LoadSummary:
    """Validate, stage and apply a register-reads file; write its report and change events."""
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
        key=("esiid", "meter_number", "read_date"),
        describe="format('ESI ID %s, meter %s and read date %s', s.esiid, s.meter_number, "
        "s.read_date)",
    )
    await mark_outside_territory(conn, table, sender_duns)
    await mark_unknown_meters(conn, table)
    await conn.execute(_CHECK_KWH, KWH_TOLERANCE)
    await conn.execute(_COMPARE_VERSIONS)
    await conn.execute(_FIND_PREVIOUS)
    await conn.execute(_SUPERSEDE, now)
    await conn.execute(_INSERT, now, file_id)
    await conn.execute(_EVENTS, file_id, FileKind.REGISTER_READS.value)
    await conn.execute(_MARK_LOADED)
    return await finish(conn, file_id=file_id, table=table)
