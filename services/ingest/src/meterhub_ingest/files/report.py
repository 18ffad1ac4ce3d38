"""Activity reports: what every loader writes, and how a report is shown.

Every loader (LSE here, the CSV kinds in ``meterhub_ingest.csvfiles``) writes one line per
record of a file into ``tdsp_file_results`` (through :func:`copy_results` or set-based SQL)
and returns a :class:`LoadSummary`. A loader that finds a fault failing the whole file raises
:class:`FileRejected` (or the LSE parser's ``LseFileError``); the pipeline then discards
everything the loader wrote and records the file as rejected with that code.

Codes are ERCOT's and ours, documented in ``meterhub_ingest.lse.codes``; the pipeline adds
``E1`` (processing failed repeatedly on our side, see the service log), which is not the
sender's fault.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import asyncpg

from meterhub_ingest.lse.codes import ResultCode

RESULT_COLUMNS = ("file_id", "line", "code", "message", "esiid", "channel", "operating_day")
REPORT_COLUMNS = ("line", "code", "description", "message", "esiid", "channel", "operating_day")

INTERNAL_FAILURE = "E1"
_OWN_DESCRIPTIONS = {
    INTERNAL_FAILURE: (
        "Processing failed repeatedly because of a problem on the repository's side; the "
        "operators have the details."
    ),
}

ResultRow = tuple[int, str, str, str | None, int | None, date | None]


@dataclass(frozen=True, slots=True)
class LoadSummary:
    """How a file's records ended: ``total`` = ``loaded`` + ``rejected`` + ``unchanged``."""

    total: int
    loaded: int
    rejected: int
    unchanged: int


class FileRejected(Exception):
    """A fault that fails a whole file (a code such as ``F2``), found by a loader."""

    def __init__(self, code: str, message: str, line: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.line = line


def describe(code: str) -> str:
    """The sentence that explains a result code in reports."""
    # Imported here: the CSV loaders import this module for copy_results.
    from meterhub_ingest.csvfiles.common import CsvResultCode

    for known in (*ResultCode, *CsvResultCode):
        if known.value == code:
            return str(known.description)
    return _OWN_DESCRIPTIONS.get(code, "")


async def copy_results(
    conn: asyncpg.Connection,
    file_id: uuid.UUID,
    rows: Iterable[ResultRow],
) -> None:
    """COPY activity-report lines ``(line, code, message, esiid, channel, operating_day)``.

    ``rows`` may be a generator: it is consumed in batches, never held whole.
    """
    batch: list[tuple[object, ...]] = []
    for line, code, message, esiid, channel, operating_day in rows:
        batch.append((file_id, line, code, message, esiid, channel, operating_day))
        if len(batch) >= 5000:
            await conn.copy_records_to_table(
                "tdsp_file_results", records=batch, columns=RESULT_COLUMNS
            )
            batch = []
    if batch:
        await conn.copy_records_to_table("tdsp_file_results", records=batch, columns=RESULT_COLUMNS)


def report_csv(rows: Sequence[Sequence[object]]) -> str:
    """The activity report as CSV, one header row then ``REPORT_COLUMNS`` per line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(REPORT_COLUMNS)
    for row in rows:
        writer.writerow(["" if value is None else value for value in row])
    return out.getvalue()
