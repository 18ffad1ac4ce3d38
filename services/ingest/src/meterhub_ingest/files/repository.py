"""All SQL of the file API and the upload page (the loading SQL lives with the loaders)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class FileRow:
    id: uuid.UUID
    sender_duns: str
    kind: str
    filename: str | None
    sha256: str
    size_bytes: int
    encrypted: bool
    via: str
    status: str
    attempts: int
    records_total: int | None
    records_loaded: int | None
    records_rejected: int | None
    records_unchanged: int | None
    error_code: str | None
    error_message: str | None
    received_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class NewFile:
    sender_duns: str
    kind: str
    filename: str | None
    sha256: str
    size_bytes: int
    encrypted: bool
    via: str


def _file(row: Any) -> FileRow:
    return FileRow(**dict(row._mapping))


async def insert_file(
    session: AsyncSession, new: NewFile, content: bytes | bytearray
) -> tuple[FileRow, bool]:
    """Store a file and its bytes; returns (file, created). The same bytes from the same sender
    are the same file: then nothing is stored and the existing file is returned.
    """
    file_id = uuid.uuid4()
    row = (
        await session.execute(
            text(
                """
                INSERT INTO tdsp_files (id, sender_duns, kind, filename, sha256, size_bytes,
                                        encrypted, via, status, attempts, received_at)
                VALUES (:id, :sender_duns, :kind, :filename, :sha256, :size_bytes,
                        :encrypted, :via, 'received', 0, clock_timestamp())
                ON CONFLICT (sender_duns, sha256) DO NOTHING
                RETURNING id, sender_duns, kind, filename, sha256, size_bytes, encrypted, via,
                   status, attempts, records_total, records_loaded, records_rejected,
                   records_unchanged,
                   error_code, error_message, received_at, started_at, finished_at
                """
            ),
            {"id": file_id, **new.__dict__},
        )
    ).first()
    if row is None:
        existing = (
            await session.execute(
                text(
                    """
                    SELECT id, sender_duns, kind, filename, sha256, size_bytes, encrypted, via,
                   status, attempts, records_total, records_loaded, records_rejected,
                   records_unchanged,
                   error_code, error_message, received_at, started_at, finished_at
                      FROM tdsp_files WHERE sender_duns = :sender AND sha256 = :sha256
                    """
                ),
                {"sender": new.sender_duns, "sha256": new.sha256},
            )
        ).one()
        return _file(existing), False
    await session.execute(
        text("INSERT INTO tdsp_file_blobs (file_id, content) VALUES (:id, :content)"),
        {"id": file_id, "content": content},
    )
    # Delivered at commit, so a worker never wakes for a file it cannot see yet.
    await session.execute(text("SELECT pg_notify('ingest_files', :id)"), {"id": str(file_id)})
    return _file(row), True


async def get_file(
    session: AsyncSession, file_id: uuid.UUID, *, sender_duns: str | None
) -> FileRow | None:
    """A file by id; with ``sender_duns``, only if that TDSP sent it."""
    row = (
        await session.execute(
            text(
                """
                SELECT id, sender_duns, kind, filename, sha256, size_bytes, encrypted, via, status,
                   attempts, records_total, records_loaded, records_rejected, records_unchanged,
                   error_code, error_message, received_at, started_at, finished_at
                  FROM tdsp_files
                 WHERE id = :id AND (CAST(:sender AS text) IS NULL OR sender_duns = :sender)
                """
            ),
            {"id": file_id, "sender": sender_duns},
        )
    ).first()
    return _file(row) if row is not None else None


async def list_files(
    session: AsyncSession,
    *,
    sender_duns: str | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[FileRow]:
    """Files newest first, ``limit`` of them, after the cursor (received_at, id)."""
    rows = await session.execute(
        text(
            """
            SELECT id, sender_duns, kind, filename, sha256, size_bytes, encrypted, via, status,
                   attempts, records_total, records_loaded, records_rejected, records_unchanged,
                   error_code, error_message, received_at, started_at, finished_at
              FROM tdsp_files
             WHERE (CAST(:sender AS text) IS NULL OR sender_duns = :sender)
               AND (CAST(:after_at AS timestamptz) IS NULL
                    OR (received_at, id) < (CAST(:after_at AS timestamptz), :after_id))
             ORDER BY received_at DESC, id DESC
             LIMIT :limit
            """
        ),
        {
            "sender": sender_duns,
            "after_at": after[0] if after else None,
            "after_id": after[1] if after else uuid.UUID(int=0),
            "limit": limit,
        },
    )
    return [_file(row) for row in rows]


async def results(
    session: AsyncSession, file_id: uuid.UUID, *, only_problems: bool = False, limit: int | None
) -> Sequence[Any]:
    """The activity report lines in line order: (line, code, message, esiid, channel, day)."""
    rows = await session.execute(
        text(
            """
            SELECT line, code, message, esiid, channel, operating_day
              FROM tdsp_file_results
             WHERE file_id = :id AND (NOT :only_problems OR code <> '00')
             ORDER BY line
             LIMIT :limit
            """
        ),
        {"id": file_id, "only_problems": only_problems, "limit": limit},
    )
    return rows.all()


async def count_results(session: AsyncSession, file_id: uuid.UUID) -> int:
    value = await session.scalar(
        text("SELECT count(*) FROM tdsp_file_results WHERE file_id = :id"), {"id": file_id}
    )
    return int(value or 0)


async def pending_files(session: AsyncSession) -> int:
    value = await session.scalar(
        text("SELECT count(*) FROM tdsp_files WHERE status IN ('received', 'processing')")
    )
    return int(value or 0)


@dataclass(frozen=True)
class TdspClient:
    client_id: str
    entity_id: uuid.UUID
    duns: str
    name: str
    secret_hash: str


async def tdsp_client(session: AsyncSession, client_id: str) -> TdspClient | None:
    """An enabled API client of a TDSP (the usage API's tables, read only)."""
    row = (
        await session.execute(
            text(
                """
                SELECT c.client_id, e.id AS entity_id, e.duns, e.name, c.secret_hash
                  FROM api_clients c JOIN entities e ON e.id = c.entity_id
                 WHERE c.client_id = :client_id AND c.disabled_at IS NULL
                   AND e.role = 'tdsp' AND e.duns IS NOT NULL
                """
            ),
            {"client_id": client_id},
        )
    ).first()
    return TdspClient(**dict(row._mapping)) if row is not None else None
