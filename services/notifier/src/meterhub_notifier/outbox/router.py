"""HTTP: the outbox for operators (what was sent, every attempt) and the self-check."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from meterhub_common.db import Session
from meterhub_common.models.notifier import MailStatus
from meterhub_notifier.notices.router import Operator
from meterhub_notifier.outbox import repository
from meterhub_notifier.outbox.service import release
from meterhub_notifier.probes.selfcheck import self_check

log = logging.getLogger(__name__)
router = APIRouter(tags=["outbox"])


class AttemptOut(BaseModel):
    attempt: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    smtp_code: int | None
    detail: str | None


class MailOut(BaseModel):
    id: uuid.UUID
    notice_id: str
    listserv: str
    recipient: str
    message_id: str
    status: str
    attempts: int
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    history: list[AttemptOut]


@router.get("/v1/outbox", summary="Notice mails and every delivery attempt (operators)")
async def list_outbox(
    session: Session,
    _: Operator,
    status: MailStatus | None = None,
    notice_id: str | None = Query(default=None, max_length=16),
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[MailOut]:
    rows = await repository.list_mails(
        session, status=status, notice_id=notice_id.upper() if notice_id else None, limit=limit
    )
    attempts = await repository.attempts_of(session, [mail.id for mail, _ in rows])
    by_mail: dict[uuid.UUID, list[AttemptOut]] = {}
    for a in attempts:
        by_mail.setdefault(a.mail_id, []).append(
            AttemptOut(
                attempt=a.attempt,
                started_at=a.started_at,
                finished_at=a.finished_at,
                outcome=a.outcome,
                smtp_code=a.smtp_code,
                detail=a.detail,
            )
        )
    return [
        MailOut(
            id=mail.id,
            notice_id=nid,
            listserv=mail.listserv,
            recipient=mail.recipient,
            message_id=mail.message_id,
            status=mail.status,
            attempts=mail.attempts,
            next_attempt_at=mail.next_attempt_at,
            sent_at=mail.sent_at,
            last_error=mail.last_error,
            history=by_mail.get(mail.id, []),
        )
        for mail, nid in rows
    ]


@router.post(
    "/v1/outbox/{mail_id}/release",
    summary="Send a failed mail, or one whose delivery is unknown, again (operators)",
)
async def release_mail(
    mail_id: uuid.UUID, request: Request, session: Session, principal: Operator
) -> dict[str, str]:
    mail = await release(
        session, mail_id, now=request.app.state.clock.now(), by=principal.client_id
    )
    await session.commit()
    worker = getattr(request.app.state, "outbox_worker", None)
    if worker is not None:
        worker.wake.set()
    return {"id": str(mail.id), "status": mail.status}


@router.get(
    "/v1/selfcheck",
    tags=["health"],
    summary="Database and outbox health (no authentication; the notifier probe reads it)",
    responses={503: {"description": "unhealthy"}},
)
async def selfcheck(request: Request) -> JSONResponse:
    state = request.app.state
    healthy, detail = await self_check(
        state.database, state.settings, state.clock.now(), getattr(state, "outbox_worker", None)
    )
    if healthy:
        return JSONResponse({"status": "ok"})
    # Anyone may call this: the log has the details, the answer names only the part.
    log.warning("self-check failed", extra={"detail": detail})
    part = detail.split(":", 1)[0]
    return JSONResponse({"error": "unhealthy", "detail": f"{part} check failed"}, status_code=503)
