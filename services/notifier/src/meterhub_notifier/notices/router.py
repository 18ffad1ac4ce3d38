"""HTTP: ``/v1/notices`` (operators write, any authenticated client reads) and the Atom feed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from meterhub_common.auth import CurrentPrincipal, Principal, require_roles
from meterhub_common.db import Session
from meterhub_common.errors import NotFound
from meterhub_common.models.usage_api import Role
from meterhub_notifier.notices import repository
from meterhub_notifier.notices.calendar import as_central
from meterhub_notifier.notices.feed import atom_feed
from meterhub_notifier.notices.ids import split_notice_id
from meterhub_notifier.notices.schemas import (
    NoticeCancel,
    NoticeCreate,
    NoticeOut,
    NoticePage,
    NoticeUpdate,
)
from meterhub_notifier.notices.service import Issued, NoticeService, to_out
from meterhub_notifier.notices.types import AffectedService, NoticeType

router = APIRouter(prefix="/v1/notices", tags=["notices"])

Operator = Annotated[Principal, require_roles(Role.OPERATOR)]


def _service(request: Request, session: Session) -> NoticeService:
    return NoticeService(session, request.app.state.settings, request.app.state.clock)


def _after_commit(request: Request) -> None:
    # Same-process sender wakes at once; other replicas wake on NOTIFY at commit.
    worker = getattr(request.app.state, "outbox_worker", None)
    if worker is not None:
        worker.wake.set()


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Issue a new notice (starts a thread)",
    responses={422: {"description": "refused, e.g. too short notice: see earliest_allowed_start"}},
)
async def create_notice(
    body: NoticeCreate, request: Request, session: Session, principal: Operator
) -> NoticeOut:
    issued = await _service(request, session).create(body, issued_by=principal.client_id)
    await session.commit()
    _after_commit(request)
    return to_out(issued, with_text=True)


@router.get("", summary="List notices, newest first")
async def list_notices(
    session: Session,
    _: CurrentPrincipal,
    notice_type: NoticeType | None = None,
    service: AffectedService | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    thread: str | None = Query(default=None, max_length=16),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
) -> NoticePage:
    rows, total = await repository.list_notices(
        session,
        notice_type=notice_type,
        service=service,
        since=as_central(since) if since else None,
        until=as_central(until) if until else None,
        thread=thread.upper() if thread else None,
        limit=limit,
        offset=offset,
    )
    return NoticePage(
        items=[to_out(Issued(n, t)) for n, t in rows], total=total, limit=limit, offset=offset
    )


@router.get(
    "/search", summary='Full-text search of notices (words, "phrases", -not, or a notice id)'
)
async def search_notices(
    session: Session,
    _: CurrentPrincipal,
    q: str = Query(min_length=1, max_length=200),
    limit: int = Query(default=50, ge=1, le=500),
    offset: int = Query(default=0, ge=0),
) -> NoticePage:
    rows, total = await repository.list_notices(session, q=q, limit=limit, offset=offset)
    return NoticePage(
        items=[to_out(Issued(n, t)) for n, t in rows], total=total, limit=limit, offset=offset
    )


@router.get(
    "/feed",
    summary="Atom feed of the latest notices (no authentication)",
    response_class=Response,
    responses={200: {"content": {"application/atom+xml": {}}}},
)
async def notices_feed(request: Request, session: Session) -> Response:
    rows, _ = await repository.list_notices(session, limit=100)
    body = atom_feed(
        rows,
        public_url=request.app.state.settings.public_url,
        generated_at=request.app.state.clock.now(),
    )
    return Response(body, media_type="application/atom+xml; charset=utf-8")


@router.get("/{notice_id}", summary="One notice, with its text as mailed")
async def get_notice(notice_id: str, session: Session, _: CurrentPrincipal) -> NoticeOut:
    split_notice_id(notice_id)
    found = await repository.notice_by_id(session, notice_id.strip().upper())
    if found is None:
        raise NotFound(f"notice {notice_id} does not exist")
    return to_out(Issued(*found), with_text=True)


@router.patch(
    "/{notice_id}",
    status_code=status.HTTP_201_CREATED,
    summary="Issue an update (or resolution) in the notice's thread",
)
async def update_notice(
    notice_id: str, body: NoticeUpdate, request: Request, session: Session, principal: Operator
) -> NoticeOut:
    issued = await _service(request, session).follow_up(
        notice_id, body, issued_by=principal.client_id
    )
    await session.commit()
    _after_commit(request)
    return to_out(issued, with_text=True)


@router.post(
    "/{notice_id}/cancel",
    status_code=status.HTTP_201_CREATED,
    summary="Cancel the notice's thread: the notice is resent with a cancellation line first",
)
async def cancel_notice(
    notice_id: str,
    request: Request,
    session: Session,
    principal: Operator,
    body: NoticeCancel | None = None,
) -> NoticeOut:
    issued = await _service(request, session).cancel(
        notice_id, body or NoticeCancel(), issued_by=principal.client_id
    )
    await session.commit()
    _after_commit(request)
    return to_out(issued, with_text=True)
