"""The rules of the file API: what may be uploaded, by whom, and who may read what."""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.auth import Principal
from meterhub_common.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    UnsupportedMediaType,
)
from meterhub_common.models.usage_api import Role
from meterhub_ingest.files import repository
from meterhub_ingest.files.pipeline import kind_supported
from meterhub_ingest.files.report import describe
from meterhub_ingest.files.repository import FileRow, NewFile
from meterhub_ingest.files.unpack import detect_format
from meterhub_ingest.settings import IngestSettings
from meterhub_ingest.telemetry import IngestMetrics

MAX_FILENAME = 255


@dataclass(frozen=True)
class Accepted:
    file: FileRow
    duplicate: bool


def sender_of(principal: Principal) -> str:
    if principal.role is not Role.TDSP or not principal.duns:
        raise Forbidden("only a TDSP client with a DUNS number can send files")
    return principal.duns


def visible_sender(principal: Principal) -> str | None:
    """The sender whose files the caller may read; None: every sender (operators)."""
    if principal.role is Role.OPERATOR:
        return None
    return sender_of(principal)


async def read_limited(chunks: AsyncIterator[bytes], limit: int) -> bytearray:
    """Collect a body, refusing it as soon as it passes ``limit`` bytes.

    A bytearray, not bytes: converting would copy the whole file once more, and hashing and
    the database driver take any buffer.
    """
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"the file is larger than the {limit:,} bytes accepted")
    return body


async def accept_upload(
    session: AsyncSession,
    settings: IngestSettings,
    metrics: IngestMetrics | None,
    *,
    sender_duns: str,
    kind: str,
    filename: str | None,
    content: bytes | bytearray,
    via: str,
) -> Accepted:
    """Store an uploaded file (one transaction, committed here) for the workers to load."""
    if not content:
        raise BadRequest("the request body is empty; send the PGP-encrypted zip file")
    if not kind_supported(kind):
        raise Unprocessable(f"files of kind {kind} are not accepted by this deployment yet")
    looks = detect_format(bytes(content[:64]))
    if looks != "pgp" and not settings.allow_unencrypted:
        raise UnsupportedMediaType(
            "the file must be a zip archive encrypted with PGP to the repository's public key "
            "(GET /v1/pgp-key); unencrypted files are not accepted"
        )
    if filename is not None:
        filename = filename.replace("\\", "/").rsplit("/", 1)[-1][:MAX_FILENAME] or None
    new = NewFile(
        sender_duns=sender_duns,
        kind=kind,
        filename=filename,
        sha256=hashlib.sha256(content).hexdigest(),
        size_bytes=len(content),
        encrypted=looks == "pgp",
        via=via,
    )
    file, created = await repository.insert_file(session, new, content)
    await session.commit()
    if created and metrics is not None:
        metrics.bytes_received(kind, len(content), via=via)
    return Accepted(file=file, duplicate=not created)


async def file_for(session: AsyncSession, principal: Principal, file_id: uuid.UUID) -> FileRow:
    """A file the caller may read; another TDSP's file is answered as if it did not exist."""
    file = await repository.get_file(session, file_id, sender_duns=visible_sender(principal))
    if file is None:
        raise NotFound(f"no file {file_id}")
    return file


def encode_cursor(file: FileRow) -> str:
    raw = f"{file.received_at.isoformat()}|{file.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, file_id = raw.partition("|")
        return datetime.fromisoformat(at), uuid.UUID(file_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest("the cursor is not one this API returned") from exc


async def list_files(
    session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None
) -> tuple[list[FileRow], str | None]:
    after = decode_cursor(cursor) if cursor else None
    files = await repository.list_files(
        session, sender_duns=visible_sender(principal), limit=limit + 1, after=after
    )
    if len(files) > limit:
        return files[:limit], encode_cursor(files[limit - 1])
    return files, None


def report_rows(rows: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Report lines with the description of their code, in ``REPORT_COLUMNS`` order."""
    described: dict[str, str] = {}
    out: list[tuple[Any, ...]] = []
    for line, code, message, esiid, channel, day in rows:
        if code not in described:
            described[code] = describe(code)
        out.append((line, code, described[code], message, esiid, channel, day))
    return out
