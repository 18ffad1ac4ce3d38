"""Meter-data-sync: the TDSP's statement of each meter, its premise and its REP of record.

It drives access: ``service_history`` (which REP served an ESI ID on which days) is what every
REP read is checked against. One row is one meter of one ESI ID; an ESI ID with two meters has
two rows, which must agree on everything about the ESI ID (premise, address, REP period).

REP periods are ``[REP_START_DATE, REP_END_DATE)``. A row whose period starts where a stored
one starts corrects that period (its REP or end date). A row whose period starts after the
stored open period's start is a REP switch: the open period is closed at the new start and the
new one begins there. Anything else that would overlap a stored period is rejected (21), so
periods never overlap.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any, Final

import asyncpg

from meterhub_common.domain import today_central
from meterhub_common.models.ingest import FileKind
from meterhub_ingest.csvfiles.common import (
    Column,
    Layout,
    Reject,
    Row,
    RowValidator,
    StagingTable,
    finish,
    mark_duplicates,
    optional,
    parse_date,
    parse_decimal,
    parse_duns,
    parse_esiid,
    parse_text,
    report_esiid,
    required,
    shown,
    stage_rows,
)
from meterhub_ingest.files.report import LoadSummary
from meterhub_ingest.lse.codes import ResultCode

PREMISE_TYPES: Final = ("residential", "business")

_USPS_CODES: Final = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH "
    "NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR VI GU AS MP"
)
US_STATES: Final = frozenset(_USPS_CODES.split())
"""USPS codes of the states, DC and the inhabited territories."""

_ZIP_RE: Final = re.compile(r"[0-9]{5}(?:-[0-9]{4})?")
_STATE_RE: Final = re.compile(r"[A-Za-z]{2}")

MULTIPLIER_DIGITS: Final = 8  # numeric(12, 4)

LAYOUT: Final = Layout(
    kind=FileKind.METER_SYNC.value,
    columns=(
        Column(
            "ESIID",
            "text",
            True,
            "1-64 ASCII letters and digits; new, or already in the sender's territory",
        ),
        Column("METER_NUMBER", "text", True, "1-64 characters; once per ESI ID in a file"),
        Column("TDSP_DUNS", "DUNS", True, "9 digits (13 for DUNS+4); the sending TDSP"),
        Column("REP_DUNS", "DUNS", True, "the REP of record; 9 digits (13 for DUNS+4)"),
        Column("REP_START_DATE", "date", True, "first day the REP serves; not after today"),
        Column(
            "REP_END_DATE",
            "date",
            False,
            "first day the REP no longer serves; after REP_START_DATE, not after today; "
            "blank while it serves",
        ),
        Column("PREMISE_TYPE", "text", True, "`residential` or `business`, any case"),
        Column("ADDRESS_LINE", "text", True, "street address, at most 200 characters"),
        Column("CITY", "text", True, "at most 100 characters"),
        Column("STATE", "text", True, "USPS code of a state, DC or territory; any case"),
        Column("ZIP_CODE", "text", True, "`12345` or `12345-6789`"),
        Column(
            "METER_MULTIPLIER",
            "decimal",
            True,
            "greater than 0; at most 8 digits before the point, 4 after",
        ),
        Column("MANUFACTURER", "text", False, "at most 100 characters"),
        Column("MODEL", "text", False, "at most 100 characters"),
        Column("FIRMWARE_VERSION", "text", False, "at most 100 characters"),
        Column("INSTALL_DATE", "date", True, "not after today"),
        Column("PROVISION_DATE", "date", False, "not before INSTALL_DATE, not after today"),
        Column("REMOVAL_DATE", "date", False, "not before INSTALL_DATE, not after today"),
    ),
)

_TYPED_COLUMNS: Final = (
    "meter_number",
    "rep_duns",
    "rep_start",
    "rep_end",
    "premise_type",
    "address_line",
    "city",
    "state",
    "zip_code",
    "multiplier",
    "manufacturer",
    "model",
    "firmware_version",
    "install_date",
    "provision_date",
    "removal_date",
)

STAGE: Final = StagingTable(
    name="csv_stage_meter_sync",
    create_sql="""
        CREATE TEMP TABLE csv_stage_meter_sync (
            line integer PRIMARY KEY,
            code text,
            message text,
            esiid text,
            operating_day date,
            meter_number text,
            rep_duns text,
            rep_start date,
            rep_end date,
            premise_type text,
            address_line text,
            city text,
            state text,
            zip_code text,
            multiplier numeric,
            manufacturer text,
            model text,
            firmware_version text,
            install_date date,
            provision_date date,
            removal_date date,
            closed_rep text,
            closed_start date
        ) ON COMMIT DROP
    """,
    columns=_TYPED_COLUMNS,
)

# Rows of one ESI ID must tell the same story about it; the first one is believed.
_REJECT_DISAGREEING: Final = """
    UPDATE csv_stage_meter_sync s
    SET code = '12',
        message = format('ESI ID %s appears at line %s of this file with a different %s.',
                         s.esiid, f.line, concat_ws(', ',
            CASE WHEN s.rep_duns <> f.rep_duns THEN 'REP_DUNS' END,
            CASE WHEN s.rep_start <> f.rep_start THEN 'REP_START_DATE' END,
            CASE WHEN s.rep_end IS DISTINCT FROM f.rep_end THEN 'REP_END_DATE' END,
            CASE WHEN s.premise_type <> f.premise_type THEN 'PREMISE_TYPE' END,
            CASE WHEN s.address_line <> f.address_line THEN 'ADDRESS_LINE' END,
            CASE WHEN s.city <> f.city THEN 'CITY' END,
            CASE WHEN s.state <> f.state THEN 'STATE' END,
            CASE WHEN s.zip_code <> f.zip_code THEN 'ZIP_CODE' END))
    FROM (SELECT DISTINCT ON (esiid) * FROM csv_stage_meter_sync
          WHERE code IS NULL ORDER BY esiid, line) f
    WHERE s.code IS NULL AND s.esiid = f.esiid AND s.line > f.line
      AND (s.rep_duns, s.rep_start, s.rep_end, s.premise_type, s.address_line, s.city, s.state,
           s.zip_code)
          IS DISTINCT FROM
          (f.rep_duns, f.rep_start, f.rep_end, f.premise_type, f.address_line, f.city, f.state,
           f.zip_code)
"""

_REJECT_OTHER_TERRITORY: Final = """
    UPDATE csv_stage_meter_sync s
    SET code = '10',
        message = format('ESI ID %s is in another TDSP''s territory; TDSP %s cannot sync it.',
                         s.esiid, $1::text)
    WHERE s.code IS NULL
      AND EXISTS (SELECT 1 FROM esiids e WHERE e.esiid = s.esiid AND e.tdsp_duns <> $1)
"""

# Stored periods the new one would overlap, other than the one it corrects (same start) and the
# open one it closes (an earlier start). The file's period of an ESI ID is its first remaining
# row's (its rows agree).
_REJECT_OVERLAPS: Final = """
    WITH periods AS (
        SELECT DISTINCT ON (esiid) esiid, rep_start, rep_end
        FROM csv_stage_meter_sync WHERE code IS NULL ORDER BY esiid, line
    ),
    clash AS (
        SELECT DISTINCT ON (p.esiid) p.esiid, h.rep_duns, h.start_date, h.end_date
        FROM periods p
        JOIN service_history h ON h.esiid = p.esiid
        WHERE h.start_date <> p.rep_start
          AND daterange(h.start_date, h.end_date) && daterange(p.rep_start, p.rep_end)
          AND NOT (h.end_date IS NULL AND h.start_date < p.rep_start)
        ORDER BY p.esiid, h.start_date
    )
    UPDATE csv_stage_meter_sync s
    SET code = '21',
        message = format('The period of REP %s from %s%s overlaps the stored period of REP %s '
                         'from %s%s; a meter-sync may only correct a period with the same start '
                         'or close the open period with a later start.',
                         s.rep_duns, s.rep_start, coalesce(' to ' || s.rep_end, ''),
                         c.rep_duns, c.start_date, coalesce(' to ' || c.end_date, ''))
    FROM clash c
    WHERE s.code IS NULL AND s.esiid = c.esiid
"""

# The REP comparison is written so that it cannot use the (rep_duns, start_date) index: every
# row of a REP's mass move-in shares both, and probing that index per row is quadratic.
_MARK_UNCHANGED: Final = """
    UPDATE csv_stage_meter_sync s
    SET code = '13',
        message = 'Identical to the stored ESI ID, meter and REP period: nothing changed.'
    WHERE s.code IS NULL
      AND EXISTS (
          SELECT 1 FROM esiids e
          WHERE e.esiid = s.esiid
            AND (e.premise_type, e.address_line, e.city, e.state, e.zip_code)
                IS NOT DISTINCT FROM
                (s.premise_type, s.address_line, s.city, s.state, s.zip_code))
      AND EXISTS (
          SELECT 1 FROM meters m
          WHERE m.esiid = s.esiid AND m.meter_number = s.meter_number
            AND (m.multiplier, m.manufacturer, m.model, m.firmware_version, m.install_date,
                 m.provision_date, m.removal_date)
                IS NOT DISTINCT FROM
                (s.multiplier, s.manufacturer, s.model, s.firmware_version, s.install_date,
                 s.provision_date, s.removal_date))
      AND EXISTS (
          SELECT 1 FROM service_history h
          WHERE h.esiid = s.esiid AND h.start_date = s.rep_start
            AND (h.rep_duns, h.end_date) IS NOT DISTINCT FROM (s.rep_duns, s.rep_end))
"""

_FIND_CLOSED: Final = """
    UPDATE csv_stage_meter_sync s SET closed_rep = h.rep_duns, closed_start = h.start_date
    FROM service_history h
    WHERE s.code IS NULL AND h.esiid = s.esiid AND h.end_date IS NULL
      AND h.start_date < s.rep_start
"""

_UPSERT_ESIIDS: Final = """
    INSERT INTO esiids AS e (esiid, tdsp_duns, premise_type, address_line, city, state, zip_code)
    SELECT DISTINCT ON (esiid) esiid, $1, premise_type, address_line, city, state, zip_code
    FROM csv_stage_meter_sync WHERE code IS NULL ORDER BY esiid, line
    ON CONFLICT (esiid) DO UPDATE
    SET premise_type = excluded.premise_type, address_line = excluded.address_line,
        city = excluded.city, state = excluded.state, zip_code = excluded.zip_code,
        updated_at = now()
    WHERE e.tdsp_duns = excluded.tdsp_duns
      AND (e.premise_type, e.address_line, e.city, e.state, e.zip_code)
          IS DISTINCT FROM
          (excluded.premise_type, excluded.address_line, excluded.city, excluded.state,
           excluded.zip_code)
"""

_UPSERT_METERS: Final = """
    INSERT INTO meters AS m (esiid, meter_number, multiplier, manufacturer, model,
                             firmware_version, install_date, provision_date, removal_date)
    SELECT esiid, meter_number, multiplier, manufacturer, model, firmware_version, install_date,
           provision_date, removal_date
    FROM csv_stage_meter_sync WHERE code IS NULL
    ON CONFLICT (esiid, meter_number) DO UPDATE
    SET multiplier = excluded.multiplier, manufacturer = excluded.manufacturer,
        model = excluded.model, firmware_version = excluded.firmware_version,
        install_date = excluded.install_date, provision_date = excluded.provision_date,
        removal_date = excluded.removal_date
    WHERE (m.multiplier, m.manufacturer, m.model, m.firmware_version, m.install_date,
           m.provision_date, m.removal_date)
          IS DISTINCT FROM
          (excluded.multiplier, excluded.manufacturer, excluded.model, excluded.firmware_version,
           excluded.install_date, excluded.provision_date, excluded.removal_date)
"""

# The three statements below read the file's period of each ESI ID: its first remaining row's.

# A REP switch: the open period ends where the new one starts. Runs before the insert so the
# no-overlap constraint never sees both open.
_CLOSE_OPEN_PERIODS: Final = """
    WITH periods AS (
        SELECT DISTINCT ON (esiid) esiid, rep_duns, rep_start, rep_end
        FROM csv_stage_meter_sync WHERE code IS NULL ORDER BY esiid, line
    )
    UPDATE service_history h SET end_date = p.rep_start
    FROM periods p
    WHERE h.esiid = p.esiid AND h.end_date IS NULL AND h.start_date < p.rep_start
"""

_CORRECT_PERIODS: Final = """
    WITH periods AS (
        SELECT DISTINCT ON (esiid) esiid, rep_duns, rep_start, rep_end
        FROM csv_stage_meter_sync WHERE code IS NULL ORDER BY esiid, line
    )
    UPDATE service_history h SET rep_duns = p.rep_duns, end_date = p.rep_end
    FROM periods p
    WHERE h.esiid = p.esiid AND h.start_date = p.rep_start
      AND (h.rep_duns, h.end_date) IS DISTINCT FROM (p.rep_duns, p.rep_end)
"""

_INSERT_PERIODS: Final = """
    WITH periods AS (
        SELECT DISTINCT ON (esiid) esiid, rep_duns, rep_start, rep_end
        FROM csv_stage_meter_sync WHERE code IS NULL ORDER BY esiid, line
    )
    INSERT INTO service_history (esiid, start_date, end_date, rep_duns)
    SELECT p.esiid, p.rep_start, p.rep_end, p.rep_duns
    FROM periods p
    WHERE NOT EXISTS (SELECT 1 FROM service_history h
                      WHERE h.esiid = p.esiid AND h.start_date = p.rep_start)
"""

_MARK_LOADED: Final = """
    UPDATE csv_stage_meter_sync
    SET code = '00',
        message = CASE WHEN closed_rep IS NULL THEN 'Loaded.'
            ELSE format('Loaded; REP switch: the period of REP %s from %s now ends %s.',
                        closed_rep, closed_start, rep_start) END
    WHERE code IS NULL
"""


def _validator(now: datetime, sender_duns: str) -> RowValidator:
    today = today_central(now)

    def not_future(name: str, value: date | None) -> None:
        if value is not None and value > today:
            raise Reject(
                ResultCode.FUTURE_DATED,
                f"{name} {value.isoformat()} is after today ({today.isoformat()} in Central "
                "time); sync a change once it is in effect.",
            )

    def optional_date(row: Row, name: str) -> date | None:
        raw = optional(row, name)
        return None if raw is None else parse_date(name, raw)

    def optional_text(row: Row, name: str) -> str | None:
        raw = optional(row, name)
        return None if raw is None else parse_text(name, raw, max_length=100)

    def validate(row: Row) -> tuple[Any, ...]:
        parse_esiid("ESIID", required(row, "ESIID"))
        meter = parse_text("METER_NUMBER", required(row, "METER_NUMBER"), max_length=64)
        tdsp = parse_duns("TDSP_DUNS", required(row, "TDSP_DUNS"))
        rep = parse_duns("REP_DUNS", required(row, "REP_DUNS"))
        rep_start = parse_date("REP_START_DATE", required(row, "REP_START_DATE"))
        rep_end = optional_date(row, "REP_END_DATE")
        premise_raw = required(row, "PREMISE_TYPE")
        address = parse_text("ADDRESS_LINE", required(row, "ADDRESS_LINE"), max_length=200)
        city = parse_text("CITY", required(row, "CITY"), max_length=100)
        state_raw = required(row, "STATE")
        if not _STATE_RE.fullmatch(state_raw):
            raise Reject(
                ResultCode.BAD_FORMAT, f"STATE {shown(state_raw)} is not a two-letter code."
            )
        zip_code = required(row, "ZIP_CODE")
        if not _ZIP_RE.fullmatch(zip_code):
            raise Reject(
                ResultCode.BAD_FORMAT,
                f"ZIP_CODE {shown(zip_code)} is not a ZIP code (12345 or 12345-6789).",
            )
        multiplier = parse_decimal(
            "METER_MULTIPLIER",
            required(row, "METER_MULTIPLIER"),
            integer_digits=MULTIPLIER_DIGITS,
        )
        manufacturer = optional_text(row, "MANUFACTURER")
        model = optional_text(row, "MODEL")
        firmware = optional_text(row, "FIRMWARE_VERSION")
        install = parse_date("INSTALL_DATE", required(row, "INSTALL_DATE"))
        provision = optional_date(row, "PROVISION_DATE")
        removal = optional_date(row, "REMOVAL_DATE")

        if tdsp != sender_duns:
            raise Reject(
                ResultCode.SENDER_MISMATCH,
                f"TDSP_DUNS {tdsp} is not the sending TDSP {sender_duns}.",
            )
        premise = premise_raw.lower()
        if premise not in PREMISE_TYPES:
            raise Reject(
                ResultCode.INVALID_VALUE,
                f"PREMISE_TYPE {shown(premise_raw)} is neither residential nor business.",
            )
        state = state_raw.upper()
        if state not in US_STATES:
            raise Reject(
                ResultCode.INVALID_VALUE, f"STATE {shown(state_raw)} is not a USPS state code."
            )
        if multiplier <= 0:
            raise Reject(
                ResultCode.INVALID_VALUE,
                f"METER_MULTIPLIER {row['METER_MULTIPLIER']} is not greater than 0.",
            )
        if rep_end is not None and rep_end <= rep_start:
            raise Reject(
                ResultCode.INVALID_VALUE,
                f"REP_END_DATE {rep_end.isoformat()} is not after REP_START_DATE "
                f"{rep_start.isoformat()}.",
            )
        for name, value in (("PROVISION_DATE", provision), ("REMOVAL_DATE", removal)):
            if value is not None and value < install:
                raise Reject(
                    ResultCode.INVALID_VALUE,
                    f"{name} {value.isoformat()} is before INSTALL_DATE {install.isoformat()}.",
                )
        not_future("REP_START_DATE", rep_start)
        not_future("REP_END_DATE", rep_end)
        not_future("INSTALL_DATE", install)
        not_future("PROVISION_DATE", provision)
        not_future("REMOVAL_DATE", removal)
        return (
            meter,
            rep,
            rep_start,
            rep_end,
            premise,
            address,
            city,
            state,
            zip_code,
            multiplier,
            manufacturer,
            model,
            firmware,
            install,
            provision,
            removal,
        )

    return validate


def _report_fields(row: Row) -> tuple[str | None, date | None]:
    return report_esiid(row["ESIID"]), None


async def load(
    conn: asyncpg.Connection,
    *,
    file_id: uuid.UUID,
    sender_duns: str,
    lines: Iterator[str],
    now: datetime,
) -> LoadSummary:
    """Validate, stage and apply a meter-sync file; write its activity report."""
    await stage_rows(
        conn,
        STAGE,
        lines=lines,
        layout=LAYOUT,
        validate=_validator(now, sender_duns),
        report_fields=_report_fields,
    )
    table = STAGE.name
    await mark_duplicates(
        conn,
        table,
        key=("esiid", "meter_number"),
        describe="format('ESI ID %s and meter %s', s.esiid, s.meter_number)",
    )
    await conn.execute(_REJECT_DISAGREEING)
    await conn.execute(_REJECT_OTHER_TERRITORY, sender_duns)
    await conn.execute(_REJECT_OVERLAPS)
    await conn.execute(_MARK_UNCHANGED)
    await conn.execute(_FIND_CLOSED)
    await conn.execute(_UPSERT_ESIIDS, sender_duns)
    await conn.execute(_UPSERT_METERS)
    await conn.execute(_CLOSE_OPEN_PERIODS)
    await conn.execute(_CORRECT_PERIODS)
    await conn.execute(_INSERT_PERIODS)
    await conn.execute(_MARK_LOADED)
    return await finish(conn, file_id=file_id, table=table)
