"""SQL for the records API: deliveries, delivered files and the retrieval log."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.models.ftps_publisher import Delivery, PublishedFile, Retrieval


async def deliveries(
    session: AsyncSession, duns: str | None, first: date | None, last: date | None, limit: int
) -> list[Delivery]:
    query = select(Delivery).order_by(Delivery.operating_day.desc(), Delivery.rep_duns)
    if duns is not None:
        query = query.where(Delivery.rep_duns == duns)
    if first is not None:
        query = query.where(Delivery.operating_day >= first)
    if last is not None:
        query = query.where(Delivery.operating_day <= last)
    return list((await session.scalars(query.limit(limit))).all())


async def files_for(session: AsyncSession, keys: list[tuple[str, date]]) -> list[PublishedFile]:
    if not keys:
        return []
    duns = sorted({k[0] for k in keys})
    days = sorted({k[1] for k in keys})
    query = (
        select(PublishedFile)
        .where(PublishedFile.rep_duns.in_(duns), PublishedFile.operating_day.in_(days))
        .order_by(PublishedFile.placed_at)
    )
    wanted = set(keys)
    return [
        f
        for f in (await session.scalars(query)).all()
        if f.operating_day is not None and (f.rep_duns, f.operating_day) in wanted
    ]


async def retrievals(
    session: AsyncSession,
    duns: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[Retrieval]:
    query = select(Retrieval).order_by(Retrieval.finished_at.desc(), Retrieval.id.desc())
    if duns is not None:
        query = query.where(Retrieval.rep_duns == duns)
    if since is not None:
        query = query.where(Retrieval.finished_at >= since)
    if until is not None:
        query = query.where(Retrieval.finished_at < until)
    return list((await session.scalars(query.limit(limit))).all())
