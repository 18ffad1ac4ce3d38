"""All SQL of the outbox."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.models.notifier import MailStatus, Notice, OutboxAttempt, OutboxMail

CHANNEL = "notifier_outbox"


async def add_mails(session: AsyncSession, mails: list[OutboxMail]) -> None:
    session.add_all(mails)
    await session.flush()
    # Delivered at commit: wakes the sender of every replica.
    await session.execute(text(f"SELECT pg_notify('{CHANNEL}', '')"))


@dataclass(frozen=True)
class Claimed:
    mail_id: uuid.UUID
    attempt_id: int
    attempt: int
    recipient: str
    message: bytes
    created_at: datetime


async def claim_due(
    session: AsyncSession, now: datetime, limit: int, lease: timedelta
) -> list[Claimed]:
    """Take due mails for this sender; other replicas skip them (SKIP LOCKED)."""
    rows = (
        (
            await session.execute(
                select(OutboxMail)
                .where(OutboxMail.status == MailStatus.PENDING, OutboxMail.next_attempt_at <= now)
                .order_by(OutboxMail.next_attempt_at, OutboxMail.created_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    claimed = []
    for mail in rows:
        mail.status = MailStatus.SENDING
        mail.attempts += 1
        mail.lease_until = now + lease
        attempt = OutboxAttempt(mail_id=mail.id, attempt=mail.attempts, started_at=now)
        session.add(attempt)
        await session.flush()
        claimed.append(
            Claimed(
                mail.id, attempt.id, mail.attempts, mail.recipient, mail.message, mail.created_at
            )
        )
    return claimed


async def finish_attempt(
    session: AsyncSession,
    attempt_id: int,
    *,
    now: datetime,
    outcome: str,
    code: int | None,
    detail: str,
) -> None:
    await session.execute(
        update(OutboxAttempt)
        .where(OutboxAttempt.id == attempt_id)
        .values(finished_at=now, outcome=outcome, smtp_code=code, detail=detail[:2000])
    )


async def set_mail(session: AsyncSession, mail_id: uuid.UUID, **values: object) -> None:
    await session.execute(update(OutboxMail).where(OutboxMail.id == mail_id).values(**values))


async def expire_leases(session: AsyncSession, now: datetime) -> list[OutboxMail]:
    """Mails whose sender vanished mid-delivery: their fate is unknown."""
    mails = (
        (
            await session.execute(
                select(OutboxMail)
                .where(OutboxMail.status == MailStatus.SENDING, OutboxMail.lease_until < now)
                .with_for_update(skip_locked=True)
            )
        )
        .scalars()
        .all()
    )
    for mail in mails:
        mail.status = MailStatus.UNKNOWN
        mail.lease_until = None
        mail.last_error = "the sender stopped during delivery; the relay may have accepted it"
        await session.execute(
            update(OutboxAttempt)
            .where(OutboxAttempt.mail_id == mail.id, OutboxAttempt.outcome.is_(None))
            .values(finished_at=now, outcome="ambiguous", detail=mail.last_error)
        )
    return list(mails)


async def list_mails(
    session: AsyncSession, *, status: str | None, notice_id: str | None, limit: int
) -> list[tuple[OutboxMail, str]]:
    query = (
        select(OutboxMail, Notice.notice_id)
        .join(Notice, Notice.id == OutboxMail.notice_pk)
        .order_by(OutboxMail.created_at.desc(), OutboxMail.recipient)
        .limit(limit)
    )
    if status:
        query = query.where(OutboxMail.status == status)
    if notice_id:
        query = query.where(Notice.notice_id == notice_id)
    return [(mail, nid) for mail, nid in (await session.execute(query)).all()]


async def attempts_of(session: AsyncSession, mail_ids: list[uuid.UUID]) -> list[OutboxAttempt]:
    if not mail_ids:
        return []
    return list(
        (
            await session.execute(
                select(OutboxAttempt)
                .where(OutboxAttempt.mail_id.in_(mail_ids))
                .order_by(OutboxAttempt.mail_id, OutboxAttempt.attempt)
            )
        ).scalars()
    )


async def get_mail(
    session: AsyncSession, mail_id: uuid.UUID, *, lock: bool = False
) -> OutboxMail | None:
    query = select(OutboxMail).where(OutboxMail.id == mail_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


@dataclass(frozen=True)
class Health:
    pending: int
    oldest_pending_at: datetime | None
    unknown: int
    failed: int


async def health(session: AsyncSession) -> Health:
    row = (
        await session.execute(
            select(
                func.count().filter(OutboxMail.status.in_(["pending", "sending"])),
                func.min(OutboxMail.created_at).filter(
                    OutboxMail.status.in_(["pending", "sending"])
                ),
                func.count().filter(OutboxMail.status == MailStatus.UNKNOWN),
                func.count().filter(OutboxMail.status == MailStatus.FAILED),
            )
        )
    ).one()
    return Health(pending=row[0], oldest_pending_at=row[1], unknown=row[2], failed=row[3])
