"""Async SQLAlchemy engine and the per-request session dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def async_url(url: str) -> str:
    """Accept the libpq form operators paste (postgresql://) and select the asyncpg driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def libpq_url(url: str) -> str:
    """The same URL for tools that speak libpq or raw asyncpg (COPY, LISTEN)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


class Database:
    """One engine per process; sessions are cheap and per unit of work."""

    def __init__(
        self, url: str, *, pool_size: int = 10, pre_ping: bool = False, echo: bool = False
    ) -> None:
        # Pre-ping costs three round trips per checkout on asyncpg; recycling connections
        # and a readiness probe that fails on a dead database cover the same ground cheaper.
        self.engine: AsyncEngine = create_async_engine(
            async_url(url),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=pre_ping,
            pool_recycle=1800,
            echo=echo,
        )
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    async def dispose(self) -> None:
        await self.engine.dispose()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session per request; the handler's service decides when to commit."""
    database: Database = request.app.state.database
    async with database.sessionmaker() as session:
        yield session


Session = Annotated[AsyncSession, Depends(get_session)]
