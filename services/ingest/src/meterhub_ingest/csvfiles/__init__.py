"""The TDSP's CSV files besides LSE: meter-data-sync, daily register reads, monthly usage.

Each kind's module exposes ``load(conn, *, file_id, sender_duns, lines, now) -> LoadSummary``,
called inside the pipeline's transaction; ``LOADERS`` maps a file kind to it. A header that does
not match the kind's layout raises ``CsvFileError`` (a file-level fault); every data row gets a
result in the file's activity report. Layouts, codes and samples: the service's README.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Final, Protocol

import asyncpg

from meterhub_common.models.ingest import FileKind
from meterhub_ingest.csvfiles import meter_sync, monthly_usage, register_reads
from meterhub_ingest.csvfiles.common import CsvFileError, CsvResultCode, Layout
from meterhub_ingest.files.report import LoadSummary

__all__ = ["LAYOUTS", "LOADERS", "CsvFileError", "CsvResultCode", "Loader"]


class Loader(Protocol):
    async def __call__(
        self,
        conn: asyncpg.Connection,
        *,
        file_id: uuid.UUID,
        sender_duns: str,
        lines: Iterator[str],
        now: datetime,
    ) -> LoadSummary: ...


LOADERS: Final[dict[str, Loader]] = {
    FileKind.METER_SYNC.value: meter_sync.load,
    FileKind.REGISTER_READS.value: register_reads.load,
    FileKind.MONTHLY_USAGE.value: monthly_usage.load,
}

LAYOUTS: Final[dict[str, Layout]] = {
    FileKind.METER_SYNC.value: meter_sync.LAYOUT,
    FileKind.REGISTER_READS.value: register_reads.LAYOUT,
    FileKind.MONTHLY_USAGE.value: monthly_usage.LAYOUT,
}
