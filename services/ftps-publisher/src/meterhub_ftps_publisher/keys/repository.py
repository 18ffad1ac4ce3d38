"""SQL for REP public keys (table ``ftps_rep_keys``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.models.ftps_publisher import RepPublicKey


async def list_keys(session: AsyncSession, duns: str | None) -> list[RepPublicKey]:
    query = select(RepPublicKey).order_by(RepPublicKey.rep_duns, RepPublicKey.created_at.desc())
    if duns is not None:
        query = query.where(RepPublicKey.rep_duns == duns)
    return list((await session.scalars(query)).all())


async def find(session: AsyncSession, duns: str, fingerprint: str) -> RepPublicKey | None:
    key: RepPublicKey | None = await session.scalar(
        select(RepPublicKey)
        .where(RepPublicKey.rep_duns == duns, RepPublicKey.fingerprint == fingerprint)
        .with_for_update()
    )
    return key


async def active(session: AsyncSession, duns: str) -> RepPublicKey | None:
    key: RepPublicKey | None = await session.scalar(
        select(RepPublicKey).where(RepPublicKey.rep_duns == duns, RepPublicKey.status == "active")
    )
    return key


async def lock_rep(session: AsyncSession, duns: str) -> None:
    # Two registrations or confirmations of one REP at once must not both become active.
    await session.execute(
        select(RepPublicKey.id).where(RepPublicKey.rep_duns == duns).with_for_update()
    )


async def retire(session: AsyncSession, duns: str, status: str, now: datetime) -> None:
    await session.execute(
        update(RepPublicKey)
        .where(RepPublicKey.rep_duns == duns, RepPublicKey.status == status)
        .values(status="retired", retired_at=now)
    )


def add(session: AsyncSession, key: RepPublicKey) -> None:
    session.add(key)
