"""SQL for FTPS accounts (table ``ftps_accounts``) as the HTTP API sees them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.models.ftps_publisher import FtpsAccount


async def get(session: AsyncSession, duns: str, *, lock: bool = False) -> FtpsAccount | None:
    query = select(FtpsAccount).where(FtpsAccount.rep_duns == duns)
    if lock:
        query = query.with_for_update()
    account: FtpsAccount | None = await session.scalar(query)
    return account


def add(session: AsyncSession, account: FtpsAccount) -> None:
    session.add(account)
