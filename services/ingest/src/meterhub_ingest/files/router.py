"""The HTTPS file API for TDSPs (and operators, read only)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from meterhub_common.auth import Principal, require_roles
from meterhub_common.db import Session
from meterhub_common.errors import PayloadTooLarge
from meterhub_common.models.ingest import FileKind
from meterhub_common.models.usage_api import Role
from meterhub_ingest.files import repository, service
from meterhub_ingest.files.keys import RepositoryKeyHolder
from meterhub_ingest.files.report import REPORT_COLUMNS, describe, report_csv
from meterhub_ingest.files.repository import FileRow
from meterhub_ingest.settings import IngestSettings
from meterhub_ingest.telemetry import IngestMetrics

router = APIRouter(prefix="/v1", tags=["files"])

Tdsp = Annotated[Principal, require_roles(Role.TDSP)]
Reader = Annotated[Principal, require_roles(Role.TDSP, Role.OPERATOR)]


class Accepted(BaseModel):
    file_id: uuid.UUID
    status: str
    duplicate: bool


class Counts(BaseModel):
    total: int | None
    loaded: int | None
    rejected: int | None
    unchanged: int | None


class FileError(BaseModel):
    code: str
    description: str
    message: str | None


class FileView(BaseModel):
    file_id: uuid.UUID
    kind: str
    filename: str | None
    sender_duns: str
    status: str
    size_bytes: int
    sha256: str
    encrypted: bool
    via: str
    attempts: int
    counts: Counts
    error: FileError | None
    received_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    # From receipt to the commit that made the records queryable.
    time_to_market_seconds: float | None
    report_url: str


class FileList(BaseModel):
    files: list[FileView]
    next_cursor: str | None


class ReportLine(BaseModel):
    line: int
    code: str
    description: str
    message: str
    esiid: str | None
    channel: int | None
    operating_day: date | None


def file_view(file: FileRow) -> FileView:
    error = None
    if file.error_code:
        error = FileError(
            code=file.error_code, description=describe(file.error_code), message=file.error_message
        )
    ttm = None
    if file.finished_at is not None:
        ttm = round((file.finished_at - file.received_at).total_seconds(), 3)
    return FileView(
        file_id=file.id,
        kind=file.kind,
        filename=file.filename,
        sender_duns=file.sender_duns,
        status=file.status,
        size_bytes=file.size_bytes,
        sha256=file.sha256,
        encrypted=file.encrypted,
        via=file.via,
        attempts=file.attempts,
        counts=Counts(
            total=file.records_total,
            loaded=file.records_loaded,
            rejected=file.records_rejected,
            unchanged=file.records_unchanged,
        ),
        error=error,
        received_at=file.received_at,
        started_at=file.started_at,
        finished_at=file.finished_at,
        time_to_market_seconds=ttm,
        report_url=f"/v1/files/{file.id}/report",
    )


@router.post(
    "/files",
    status_code=202,
    summary="Send a file (PGP-encrypted zip); answers at once with its id",
    responses={
        413: {"description": "larger than MH_INGEST_MAX_UPLOAD_BYTES"},
        415: {"description": "not PGP-encrypted (and unencrypted files are not allowed)"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
        }
    },
)
async def post_file(
    request: Request,
    session: Session,
    principal: Tdsp,
    kind: Annotated[FileKind, Query(description="what the file holds")],
    filename: Annotated[str | None, Query(max_length=255)] = None,
) -> JSONResponse:
    settings: IngestSettings = request.app.state.settings
    limit = settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the file is larger than the {limit:,} bytes accepted")
    sender = service.sender_of(principal)
    content = await service.read_limited(request.stream(), limit)
    metrics: IngestMetrics | None = request.app.state.ingest_metrics
    accepted = await service.accept_upload(
        session,
        settings,
        metrics,
        sender_duns=sender,
        kind=kind.value,
        filename=filename,
        content=content,
        via="api",
    )
    body = Accepted(
        file_id=accepted.file.id, status=accepted.file.status, duplicate=accepted.duplicate
    )
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/v1/files/{accepted.file.id}"},
    )


@router.get("/files", summary="Your files, newest first")
async def get_files(
    session: Session,
    principal: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> FileList:
    files, next_cursor = await service.list_files(session, principal, limit=limit, cursor=cursor)
    return FileList(files=[file_view(f) for f in files], next_cursor=next_cursor)


@router.get("/files/{file_id}", summary="A file's status, counts and timings")
async def get_file(file_id: uuid.UUID, session: Session, principal: Reader) -> FileView:
    return file_view(await service.file_for(session, principal, file_id))


@router.get(
    "/files/{file_id}/report",
    summary="A file's activity report: one line per record (JSON, or CSV with Accept: text/csv)",
    response_model=list[ReportLine],
    responses={200: {"content": {"text/csv": {}}}},
)
async def get_report(
    file_id: uuid.UUID,
    request: Request,
    session: Session,
    principal: Reader,
    problems_only: Annotated[bool, Query(description="leave out the 00 (loaded) lines")] = False,
) -> Response:
    file = await service.file_for(session, principal, file_id)
    rows = service.report_rows(
        await repository.results(session, file.id, only_problems=problems_only, limit=None)
    )
    if "text/csv" in request.headers.get("accept", ""):
        return Response(
            report_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="report-{file.id}.csv"'},
        )
    body: list[dict[str, Any]] = [
        {
            **dict(zip(REPORT_COLUMNS, row, strict=True)),
            "operating_day": row[6].isoformat() if row[6] is not None else None,
        }
        for row in rows
    ]
    return JSONResponse(body)


@router.get(
    "/pgp-key",
    summary="The repository's public key: encrypt files to it",
    response_class=Response,
    responses={200: {"content": {"application/pgp-keys": {}}}},
)
async def get_pgp_key(request: Request) -> Response:
    holder: RepositoryKeyHolder = request.app.state.repository_key
    key = await holder.get()
    return Response(
        key.armored,
        media_type="application/pgp-keys",
        headers={"X-PGP-Fingerprint": key.fingerprint, "Cache-Control": "public, max-age=3600"},
    )
