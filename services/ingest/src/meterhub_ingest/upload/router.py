"""The browser upload page, for when a TDSP's automated transport is down.

Plain server-rendered HTML forms (no JavaScript): sign in with the TDSP's API client id and
secret, pick the kind of file and the file, upload, and read the file's activity report
(the page refreshes itself while the file is being processed). Files uploaded here go through
exactly the same checks and queue as the API's.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import UploadFile

from meterhub_common.auth import hash_secret, verify_secret
from meterhub_common.db import Session
from meterhub_common.errors import MeterhubError
from meterhub_common.models.ingest import FileKind, FileStatus
from meterhub_ingest.files import repository, service
from meterhub_ingest.files.report import describe, report_csv
from meterhub_ingest.files.router import file_view
from meterhub_ingest.settings import IngestSettings
from meterhub_ingest.upload.session import SessionCodec, UploadSession

router = APIRouter(prefix="/upload", tags=["upload page"], include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

# A report page lists at most this many lines; the CSV download has them all.
PAGE_LINES = 1000
REFRESH_SECONDS = 2
_UPLOAD_CHUNK = 1 << 20
_KINDS = [
    (FileKind.LSE.value, "LSE interval data"),
    (FileKind.METER_SYNC.value, "Meter data sync (CSV)"),
    (FileKind.REGISTER_READS.value, "Daily register reads (CSV)"),
    (FileKind.MONTHLY_USAGE.value, "Monthly billed usage (CSV)"),
]
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class _DummyHash:
    """A hash to verify against when the client id is unknown, so timing does not tell."""

    value: str | None = None

    @classmethod
    def get(cls) -> str:
        if cls.value is None:
            cls.value = hash_secret("not a real secret")
        return cls.value


def _codec(request: Request) -> SessionCodec:
    codec: SessionCodec = request.app.state.upload_sessions
    return codec


def _page(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    session: UploadSession | None = None,
) -> Response:
    response = templates.TemplateResponse(
        request, template, {"session": session, **context}, status_code=status_code
    )
    response.headers.update(_SECURITY_HEADERS)
    if session is not None:
        _codec(request).store(response, session)
    return response


def _redirect(request: Request, url: str, session: UploadSession | None = None) -> Response:
    response = RedirectResponse(url, status_code=303)
    response.headers.update(_SECURITY_HEADERS)
    if session is not None:
        _codec(request).store(response, session)
    return response


def _stale_form(request: Request) -> Response:
    return _page(
        request,
        "message.html",
        {
            "title": "Form expired",
            "message": "This form has expired or was not sent from this page. "
            "Open the upload page again and retry.",
        },
        status_code=403,
    )


async def _upload_page(
    request: Request,
    db: Session,
    session: UploadSession,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    assert session.duns is not None
    files = await repository.list_files(db, sender_duns=session.duns, limit=20, after=None)
    return _page(
        request,
        "upload.html",
        {"kinds": _KINDS, "files": files, "error": error},
        status_code=status_code,
        session=session,
    )


@router.get("")
async def upload_home(request: Request, db: Session) -> Response:
    session, _ = _codec(request).load_or_new(request)
    if session.signed_in:
        return await _upload_page(request, db, session)
    return _page(request, "sign_in.html", {"error": None}, session=session)


@router.post("/sign-in")
async def sign_in(request: Request, db: Session) -> Response:
    session = _codec(request).load(request)
    form = await request.form(max_files=0, max_fields=5)
    if session is None or not session.check_csrf(_field(form, "csrf")):
        return _stale_form(request)
    client_id = (_field(form, "client_id") or "").strip()
    secret = _field(form, "client_secret") or ""
    client = await repository.tdsp_client(db, client_id) if client_id else None
    stored_hash = client.secret_hash if client is not None else _DummyHash.get()
    verified = await asyncio.to_thread(verify_secret, stored_hash, secret)
    if client is None or not verified:
        return _page(
            request,
            "sign_in.html",
            {
                "error": "The client id or secret is wrong, or the client is not a TDSP's.",
                "client_id": client_id,
            },
            status_code=401,
            session=session,
        )
    signed_in = session.signed_in_as(client.client_id, client.entity_id, client.duns, client.name)
    return _redirect(request, "/upload", signed_in)


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    session = _codec(request).load(request)
    form = await request.form(max_files=0, max_fields=5)
    if session is None or not session.check_csrf(_field(form, "csrf")):
        return _stale_form(request)
    return _redirect(request, "/upload", session.signed_out())


@router.post("/files")
async def upload_file(request: Request, db: Session) -> Response:
    session = _codec(request).load(request)
    if session is None or not session.signed_in:
        return _redirect(request, "/upload")
    settings: IngestSettings = request.app.state.settings
    declared = request.headers.get("content-length", "")
    # Forms from browsers always declare their length: refuse big ones before spooling them.
    if not declared.isdigit() or int(declared) > settings.max_upload_bytes + 64 * 1024:
        return await _upload_page(
            request,
            db,
            session,
            error=f"The file is larger than the {settings.max_upload_bytes:,} bytes accepted.",
            status_code=413,
        )
    form = await request.form(max_files=1, max_fields=5)
    if not session.check_csrf(_field(form, "csrf")):
        return _stale_form(request)
    kind = _field(form, "kind") or ""
    upload = form.get("file")
    if kind not in {k for k, _ in _KINDS}:
        return await _upload_page(
            request, db, session, error="Pick the kind of file.", status_code=400
        )
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _upload_page(
            request, db, session, error="Choose a file to upload.", status_code=400
        )
    assert session.duns is not None
    try:
        content = await service.read_limited(_chunks(upload), settings.max_upload_bytes)
        accepted = await service.accept_upload(
            db,
            settings,
            request.app.state.ingest_metrics,
            sender_duns=session.duns,
            kind=kind,
            filename=upload.filename,
            content=content,
            via="upload-page",
        )
    except MeterhubError as exc:
        return await _upload_page(
            request, db, session, error=exc.detail, status_code=exc.status_code
        )
    finally:
        await upload.close()
    return _redirect(request, f"/upload/files/{accepted.file.id}")


@router.get("/files/{file_id}")
async def file_report(file_id: uuid.UUID, request: Request, db: Session) -> Response:
    session = _codec(request).load(request)
    if session is None or not session.signed_in:
        return _redirect(request, "/upload")
    file = await repository.get_file(db, file_id, sender_duns=session.duns)
    if file is None:
        return _page(
            request,
            "message.html",
            {"title": "No such file", "message": f"There is no file {file_id} of yours."},
            status_code=404,
            session=session,
        )
    total = await repository.count_results(db, file.id)
    problems_only = total > PAGE_LINES
    rows = service.report_rows(
        await repository.results(db, file.id, only_problems=problems_only, limit=PAGE_LINES)
    )
    pending = file.status in (FileStatus.RECEIVED.value, FileStatus.PROCESSING.value)
    return _page(
        request,
        "report.html",
        {
            "file": file_view(file),
            "rows": rows,
            "total_lines": total,
            "problems_only": problems_only,
            "page_lines": PAGE_LINES,
            "refresh": REFRESH_SECONDS if pending else None,
            "error_description": describe(file.error_code) if file.error_code else None,
        },
        session=session,
    )


@router.get("/files/{file_id}/report.csv")
async def file_report_csv(file_id: uuid.UUID, request: Request, db: Session) -> Response:
    session = _codec(request).load(request)
    if session is None or not session.signed_in:
        return _redirect(request, "/upload")
    file = await repository.get_file(db, file_id, sender_duns=session.duns)
    if file is None:
        return Response("no such file\n", status_code=404, media_type="text/plain")
    rows = service.report_rows(
        await repository.results(db, file.id, only_problems=False, limit=None)
    )
    return Response(
        report_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={
            **_SECURITY_HEADERS,
            "Content-Disposition": f'attachment; filename="report-{file.id}.csv"',
        },
    )


def _field(form: Any, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


async def _chunks(upload: UploadFile) -> Any:
    while chunk := await upload.read(_UPLOAD_CHUNK):
        yield chunk
