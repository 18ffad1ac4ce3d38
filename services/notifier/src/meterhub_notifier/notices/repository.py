"""All SQL of notices, threads and maintenance windows."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Select, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.models.notifier import MaintenanceWindow, Notice, NoticeThread, ThreadStatus


async def lock_day(session: AsyncSession, audience: str, day: date) -> None:
    """Serialize thread creation per audience and day, so letters are handed out in order."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
        {"key": f"notifier-thread:{audience}:{day.isoformat()}"},
    )


async def letters_used(session: AsyncSession, audience: str, day: date) -> list[str]:
    rows = await session.execute(
        select(NoticeThread.letter).where(
            NoticeThread.audience_code == audience, NoticeThread.first_date == day
        )
    )
    return [r[0] for r in rows]


async def thread_by_code(
    session: AsyncSession, code: str, *, lock: bool = False
) -> NoticeThread | None:
    query = select(NoticeThread).where(NoticeThread.code == code)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def thread_by_id(
    session: AsyncSession, thread_id: uuid.UUID, *, lock: bool = False
) -> NoticeThread | None:
    query = select(NoticeThread).where(NoticeThread.id == thread_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def latest_notice(session: AsyncSession, thread_id: uuid.UUID) -> Notice:
    return (
        await session.execute(
            select(Notice)
            .where(Notice.thread_id == thread_id)
            .order_by(Notice.sequence.desc())
            .limit(1)
        )
    ).scalar_one()


async def notice_by_id(session: AsyncSession, notice_id: str) -> tuple[Notice, NoticeThread] | None:
    row = (
        await session.execute(
            select(Notice, NoticeThread)
            .join(NoticeThread, NoticeThread.id == Notice.thread_id)
            .where(Notice.notice_id == notice_id)
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def window_of(session: AsyncSession, thread_id: uuid.UUID) -> MaintenanceWindow | None:
    return (
        await session.execute(
            select(MaintenanceWindow).where(MaintenanceWindow.thread_id == thread_id)
        )
    ).scalar_one_or_none()


async def windows_overlapping(
    session: AsyncSession, start: datetime, end: datetime
) -> list[MaintenanceWindow]:
    """Windows in force at some point of [start, end), a cancellation cutting them short."""
    effective_end = func.least(
        MaintenanceWindow.ends_at,
        func.coalesce(MaintenanceWindow.cancelled_at, MaintenanceWindow.ends_at),
    )
    rows = await session.execute(
        select(MaintenanceWindow).where(
            MaintenanceWindow.starts_at < end,
            effective_end > start,
            or_(
                MaintenanceWindow.cancelled_at.is_(None),
                MaintenanceWindow.cancelled_at > MaintenanceWindow.starts_at,
            ),
        )
    )
    return list(rows.scalars())


async def due_reminders(
    session: AsyncSession, now: datetime, limit: int = 20
) -> list[NoticeThread]:
    rows = await session.execute(
        select(NoticeThread)
        .where(
            NoticeThread.reminder_due_at <= now,
            NoticeThread.reminder_sent_at.is_(None),
            NoticeThread.status == ThreadStatus.OPEN,
        )
        .order_by(NoticeThread.reminder_due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows.scalars())


def _filtered(
    query: Select[Notice, NoticeThread],
    *,
    notice_type: str | None,
    service: str | None,
    since: datetime | None,
    until: datetime | None,
    thread: str | None,
    q: str | None,
) -> Select[Notice, NoticeThread]:
    if notice_type:
        query = query.where(Notice.notice_type == notice_type)
    if service:
        query = query.where(Notice.affected_services.contains([service]))
    if since:
        query = query.where(Notice.issued_at >= since)
    if until:
        query = query.where(Notice.issued_at < until)
    if thread:
        query = query.where(NoticeThread.code == thread)
    if q:
        document = func.to_tsvector(
            "english",
            func.concat_ws(
                " ",
                Notice.short_description,
                Notice.long_description,
                Notice.additional_information,
                Notice.action_required,
                Notice.days_affected,
                func.array_to_string(Notice.affected_services, " "),
            ),
        )
        query = query.where(
            or_(
                document.op("@@")(func.websearch_to_tsquery("english", q)),
                Notice.notice_id.ilike(q.strip().replace("%", "").replace("_", r"\_") + "%"),
            )
        )
    return query


async def list_notices(
    session: AsyncSession,
    *,
    notice_type: str | None = None,
    service: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    thread: str | None = None,
    q: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[tuple[Notice, NoticeThread]], int]:
    base = select(Notice, NoticeThread).join(NoticeThread, NoticeThread.id == Notice.thread_id)
    filtered = _filtered(
        base, notice_type=notice_type, service=service, since=since, until=until, thread=thread, q=q
    )
    total = (
        await session.execute(select(func.count()).select_from(filtered.subquery()))
    ).scalar_one()
    rows = await session.execute(
        filtered.order_by(Notice.issued_at.desc(), Notice.notice_id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [(n, t) for n, t in rows.all()], total
