"""What the three CSV file kinds share: header, field parsers, staging, the activity report.

A CSV file is read as a stream: the header row names the columns, then each data row is checked
on its own (field by field, in Python) and COPYed, good or bad, into a temporary staging table
with the outcome so far. Everything that needs other rows or the database (duplicates within the
file, territory, versions, overlaps) is then decided by set-based SQL on that table, the good
rows are applied, and the staging table becomes the file's activity report: one result per data
row, written in pages so that memory stays flat whatever the file size.
"""

from __future__ import annotations

import csv
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Final

import asyncpg

from meterhub_common.domain import InvalidIdentifier, validate_duns, validate_esiid
from meterhub_ingest.files.report import FileRejected, LoadSummary, copy_results
from meterhub_ingest.lse.codes import ResultCode

__all__ = [
    "RECORD_TIMESTAMP_SKEW",
    "Column",
    "CsvFileError",
    "CsvResultCode",
    "Layout",
    "Reject",
    "Row",
    "RowValidator",
    "StagingTable",
    "finish",
    "parse_date",
    "parse_decimal",
    "parse_duns",
    "parse_esiid",
    "parse_text",
    "parse_timestamp",
    "stage_rows",
]

RESULTS_PAGE: Final = 10_000
"""Results are read back from the staging table and written to the report this many at a time."""

RECORD_TIMESTAMP_SKEW: Final = timedelta(minutes=5)
"""How far a record timestamp may lie ahead of our clock before it counts as future-dated."""

_RAW_SHOWN: Final = 40


class CsvResultCode(StrEnum):
    """Record-level codes specific to the CSV kinds (the LSE codes are reused where they fit).

    They start at 20 so that they never collide with codes added to the LSE list.
    """

    description: str

    def __new__(cls, code: str, description: str) -> CsvResultCode:
        member = str.__new__(cls, code)
        member._value_ = code
        member.description = description
        return member

    METER_UNKNOWN = "20", "The meter number is not a known meter of the ESI ID."
    REP_PERIOD_OVERLAP = "21", "The REP period overlaps a stored REP period the file cannot close."
    BILLING_PERIOD_OVERLAP = "22", "The billing period overlaps another one of the same meter."


class CsvFileError(FileRejected):
    """A file-level fault: nothing of the file is loaded and the pipeline rejects the file.

    ``code`` is the file-level result code (F2 for a header that does not match the layout,
    F13 for an empty file), ``line`` the line at fault and ``message`` a sentence for the TDSP.
    A FileRejected, so the pipeline treats it like any loader's file-level fault.
    """

    def __init__(self, *, code: str, message: str, line: int) -> None:
        super().__init__(str(code), message, line)
        self.line: int = line


class Reject(Exception):
    """A data row fails a check; ``message`` is a sentence naming the field and its value."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def shown(raw: str) -> str:
    """A raw value as quoted in a message, shortened so one row cannot bloat the report."""
    if len(raw) > _RAW_SHOWN:
        raw = raw[: _RAW_SHOWN - 3] + "..."
    return repr(raw)


# ---------------------------------------------------------------------------------------------
# Field parsers. Each takes the column name and the raw (stripped, non-empty) text.

_DATE_RE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DECIMAL_RE: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# ISO 8601 with seconds and an explicit offset (or Z); fractions of a second are allowed.
_TIMESTAMP_RE: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)


def parse_esiid(name: str, raw: str) -> str:
    try:
        return validate_esiid(raw)
    except InvalidIdentifier as error:
        raise Reject(
            ResultCode.BAD_FORMAT, f"{name} {shown(raw)} is not an ESI ID: it {error.reason}."
        ) from None


def parse_duns(name: str, raw: str) -> str:
    try:
        return validate_duns(raw)
    except InvalidIdentifier:
        raise Reject(
            ResultCode.BAD_FORMAT,
            f"{name} {shown(raw)} is not a DUNS number: it must be 9 digits, or 13 for DUNS+4.",
        ) from None


def parse_date(name: str, raw: str) -> date:
    if _DATE_RE.fullmatch(raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    raise Reject(
        ResultCode.BAD_FORMAT, f"{name} {shown(raw)} is not a calendar date in the form YYYY-MM-DD."
    )


def parse_decimal(
    name: str, raw: str, *, integer_digits: int, scale: int = 4, minimum: Decimal | None = None
) -> Decimal:
    """An exact decimal that fits ``numeric(integer_digits + scale, scale)`` without rounding."""
    if not _DECIMAL_RE.fullmatch(raw):
        raise Reject(
            ResultCode.BAD_FORMAT,
            f"{name} {shown(raw)} is not a decimal number (digits, an optional '.' and decimals).",
        )
    try:
        value = Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid literals
        raise Reject(ResultCode.BAD_FORMAT, f"{name} {shown(raw)} is not a number.") from None
    whole, _, fraction = raw.lstrip("-").partition(".")
    if len(fraction.rstrip("0")) > scale:
        raise Reject(
            ResultCode.BAD_FORMAT, f"{name} {shown(raw)} has more than {scale} decimal places."
        )
    if len(whole.lstrip("0")) > integer_digits:
        raise Reject(
            ResultCode.INVALID_VALUE,
            f"{name} {shown(raw)} is too large (at most {integer_digits} digits before the point).",
        )
    if minimum is not None and value < minimum:
        raise Reject(ResultCode.INVALID_VALUE, f"{name} {shown(raw)} is less than {minimum}.")
    return value


def parse_timestamp(name: str, raw: str) -> datetime:
    if _TIMESTAMP_RE.fullmatch(raw):
        try:
            return datetime.fromisoformat(raw)
        except ValueError:
            pass
    raise Reject(
        ResultCode.BAD_FORMAT,
        f"{name} {shown(raw)} is not a timestamp with a UTC offset "
        "such as 2026-03-02T04:15:00-06:00.",
    )


def parse_text(name: str, raw: str, *, max_length: int) -> str:
    if len(raw) > max_length:
        raise Reject(
            ResultCode.BAD_FORMAT,
            f"{name} {shown(raw)} is {len(raw)} characters long, at most {max_length} allowed.",
        )
    if not raw.isprintable():
        raise Reject(
            ResultCode.BAD_FORMAT,
            f"{name} {shown(raw)} contains control characters (tabs, line breaks, ...).",
        )
    return raw


# ---------------------------------------------------------------------------------------------
# Layout and header.


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a layout; ``rules`` is the sentence the README prints for it."""

    name: str
    type: str
    required: bool
    rules: str


def _normalize(header_name: str) -> str:
    return re.sub(r"[\s-]+", "_", header_name.strip().lstrip("\ufeff").strip()).upper()


@dataclass(frozen=True)
class Layout:
    """The columns of one file kind. The header must name each exactly once, in any order."""

    kind: str
    columns: tuple[Column, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def positions(self, header: Sequence[str]) -> tuple[int, ...]:
        """Map the header row to the position of each layout column, or raise CsvFileError F2."""
        known = {column.name for column in self.columns}
        where: dict[str, int] = {}
        for position, raw in enumerate(header):
            name = _normalize(raw)
            if name not in known:
                raise CsvFileError(
                    code=ResultCode.MANDATORY_ELEMENT_MISSING,
                    message=(
                        f"Header column {position + 1} {shown(raw.strip())} is not a column of "
                        f"the {self.kind} layout ({', '.join(self.names)})."
                    ),
                    line=1,
                )
            if name in where:
                raise CsvFileError(
                    code=ResultCode.MANDATORY_ELEMENT_MISSING,
                    message=(
                        f"Header column {name} appears twice (columns {where[name] + 1} "
                        f"and {position + 1})."
                    ),
                    line=1,
                )
            where[name] = position
        missing = [name for name in self.names if name not in where]
        if missing:
            raise CsvFileError(
                code=ResultCode.MANDATORY_ELEMENT_MISSING,
                message=(
                    f"The header lacks the {self.kind} column(s) {', '.join(missing)}; "
                    "every column of the layout must be named, even when its values are blank."
                ),
                line=1,
            )
        return tuple(where[name] for name in self.names)


Row = dict[str, str]
"""A data row: the layout's column name -> the stripped text ("" when blank)."""

RowValidator = Callable[[Row], tuple[Any, ...]]
"""Check one row and return its typed values in the staging table's column order, or raise."""


@dataclass(frozen=True)
class StagingTable:
    """A temporary table: the fixed report columns, then the kind's typed columns."""

    name: str
    create_sql: str
    columns: tuple[str, ...]


REPORT_COLUMNS: Final = ("line", "code", "message", "esiid", "operating_day")


def _read_header(reader: Any, layout: Layout) -> tuple[int, tuple[int, ...]]:
    """Read line 1 and return its field count and the position of each layout column."""
    try:
        header = next(reader)
    except StopIteration:
        raise CsvFileError(
            code=ResultCode.EMPTY_FILE, message="The file is empty: no header row.", line=1
        ) from None
    except csv.Error as error:
        raise CsvFileError(
            code=ResultCode.MANDATORY_ELEMENT_MISSING,
            message=f"The header row cannot be read as CSV: {error}.",
            line=1,
        ) from None
    if all(not name.strip() for name in header):
        raise CsvFileError(
            code=ResultCode.MANDATORY_ELEMENT_MISSING,
            message=f"Line 1 is blank; the first line must be the {layout.kind} header row.",
            line=1,
        )
    return len(header), layout.positions(header)


def _records(
    reader: Any,
    width: int,
    positions: tuple[int, ...],
    names: tuple[str, ...],
    validate: RowValidator,
    report_fields: Callable[[Row], tuple[str | None, date | None]],
    typed_columns: int,
) -> Iterator[tuple[Any, ...]]:
    """Yield one staging record per data row, its own checks done (a code when it failed)."""
    blank: tuple[None, ...] = (None,) * typed_columns
    while True:
        first_line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            message = f"The row cannot be read as CSV: {error}."
            yield (first_line, ResultCode.BAD_FORMAT, message, None, None, *blank)
            continue
        if all(not field.strip() for field in fields):
            continue  # blank lines and rows of empty cells are not records
        if len(fields) != width:
            message = f"The row has {len(fields)} fields; the header has {width}."
            yield (first_line, ResultCode.BAD_FORMAT, message, None, None, *blank)
            continue
        row = {name: fields[at].strip() for name, at in zip(names, positions, strict=True)}
        esiid, day = report_fields(row)
        try:
            values = validate(row)
        except Reject as rejection:
            yield (first_line, rejection.code, rejection.message, esiid, day, *blank)
            continue
        yield (first_line, None, None, esiid, day, *values)


async def stage_rows(
    conn: asyncpg.Connection,
    table: StagingTable,
    *,
    lines: Iterable[str],
    layout: Layout,
    validate: RowValidator,
    report_fields: Callable[[Row], tuple[str | None, date | None]],
) -> None:
    """Check the header, then create the staging table and COPY every data row into it.

    The rows are parsed while COPY consumes them, so memory stays flat. ``report_fields`` picks
    the ESI ID and day shown in the report from a raw row (None where the raw text is not
    valid), so that rejected rows still say what they were about. A bad header raises
    CsvFileError before anything is written.
    """
    if not conn.is_in_transaction():
        # Outside a transaction the staging table would vanish at once and a file could load
        # half-way; the pipeline owns the transaction.
        raise RuntimeError("a CSV file must be loaded inside the caller's transaction")
    reader = csv.reader(lines, strict=True)
    width, positions = _read_header(reader, layout)
    await conn.execute(f"DROP TABLE IF EXISTS {table.name}")
    await conn.execute(table.create_sql)
    records = _records(
        reader, width, positions, layout.names, validate, report_fields, len(table.columns)
    )
    await conn.copy_records_to_table(
        table.name, records=records, columns=[*REPORT_COLUMNS, *table.columns]
    )
    await conn.execute(f"ANALYZE {table.name}")


def required(row: Row, name: str) -> str:
    value = row[name]
    if not value:
        raise Reject(ResultCode.BAD_FORMAT, f"{name} is required but blank.")
    return value


def optional(row: Row, name: str) -> str | None:
    return row[name] or None


async def mark_duplicates(
    conn: asyncpg.Connection, table: str, *, key: Sequence[str], describe: str
) -> None:
    """Reject (12) every row whose key an earlier, so far valid row of the file already has.

    ``describe`` is an SQL expression over ``s`` naming the key in the message.
    """
    keys = ", ".join(key)
    await conn.execute(
        f"""
        UPDATE {table} s
        SET code = '12',
            message = format('%s already appear at line %s of this file.', {describe}, d.first_line)
        FROM (SELECT line, min(line) OVER (PARTITION BY {keys}) AS first_line
              FROM {table} WHERE code IS NULL) d
        WHERE s.line = d.line AND d.first_line < d.line
        """  # noqa: S608
    )


async def mark_outside_territory(conn: asyncpg.Connection, table: str, sender_duns: str) -> None:
    """Reject (10) rows whose ESI ID is unknown or belongs to another TDSP's territory.

    Both cases get the same sentence, so a file cannot be used to probe other territories.
    """
    await conn.execute(
        f"""
        UPDATE {table} s
        SET code = '10',
            message = format('ESI ID %s is unknown or not in the territory of TDSP %s.',
                             s.esiid, $1::text)
        WHERE s.code IS NULL
          AND NOT EXISTS (SELECT 1 FROM esiids e WHERE e.esiid = s.esiid AND e.tdsp_duns = $1)
        """,  # noqa: S608
        sender_duns,
    )


async def mark_unknown_meters(conn: asyncpg.Connection, table: str) -> None:
    await conn.execute(
        f"""
        UPDATE {table} s
        SET code = '20',
            message = format('METER_NUMBER %s is not a meter of ESI ID %s; '
                             'send it in a meter-sync file first.', s.meter_number, s.esiid)
        WHERE s.code IS NULL
          AND NOT EXISTS (SELECT 1 FROM meters m
                          WHERE m.esiid = s.esiid AND m.meter_number = s.meter_number)
        """  # noqa: S608
    )


def report_esiid(raw: str) -> str | None:
    try:
        return validate_esiid(raw)
    except InvalidIdentifier:
        return None


def report_date(raw: str) -> date | None:
    try:
        return parse_date("", raw)
    except Reject:
        return None


async def finish(conn: asyncpg.Connection, *, file_id: uuid.UUID, table: str) -> LoadSummary:
    """Write every row's result to the activity report, page by page, and count the outcomes.

    Rows still without a code at this point were loaded; the loader has set their message.
    """
    last = 0
    while True:
        page = await conn.fetch(
            f"SELECT line, code, message, esiid, operating_day FROM {table}"  # noqa: S608
            " WHERE line > $1 ORDER BY line LIMIT $2",
            last,
            RESULTS_PAGE,
        )
        if not page:
            break
        await copy_results(
            conn,
            file_id,
            [
                (r["line"], r["code"], r["message"], r["esiid"], None, r["operating_day"])
                for r in page
            ],
        )
        last = page[-1]["line"]
    counts = await conn.fetchrow(
        f"""
        SELECT count(*) AS total,
               count(*) FILTER (WHERE code = '00') AS loaded,
               count(*) FILTER (WHERE code = '13') AS unchanged
        FROM {table}
        """  # noqa: S608
    )
    assert counts is not None
    total, loaded, unchanged = counts["total"], counts["loaded"], counts["unchanged"]
    await conn.execute(f"DROP TABLE {table}")
    return LoadSummary(
        total=total, loaded=loaded, rejected=total - loaded - unchanged, unchanged=unchanged
    )
