"""Raw SQL on asyncpg connections: one round trip, asyncpg's own prepared-statement cache.

The hot reads skip the ORM session and SQLAlchemy's result layer: a read takes a pooled
connection from the engine the app's sessionmaker is bound to (or that sessionmaker's one
connection, when the app is bound to a single connection as tests do) and runs one
autocommitted statement on the asyncpg connection underneath. Pooling stays SQLAlchemy's.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from meterhub_common.db import Database, async_url, libpq_url

# ":name" but not the second colon of a "::type" cast.
_NAMED = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class Statement:
    """SQL written with ``:name`` parameters, compiled once to asyncpg's ``$n`` form."""

    sql: str
    names: tuple[str, ...]

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] for name in self.names]


@lru_cache(maxsize=512)
def compile_named(sql: str) -> Statement:
    names: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return Statement(_NAMED.sub(replace, sql), tuple(names))


async def _driver(connection: AsyncConnection) -> asyncpg.Connection:
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, asyncpg.Connection), "the usage API runs on asyncpg"
    return driver


async def driver_connection(session: AsyncSession) -> asyncpg.Connection:
    """The asyncpg connection under a session (inside the session's transaction)."""
    return await _driver(await session.connection())


@asynccontextmanager
async def read_connection(database: Database) -> AsyncIterator[asyncpg.Connection]:
    """A connection for one read, without the ORM session's bookkeeping."""
    bind = database.sessionmaker.kw.get("bind")
    if isinstance(bind, AsyncConnection):
        yield await _driver(bind)
        return
    async with database.engine.connect() as connection:
        yield await _driver(connection)


async def fetch(
    connection: asyncpg.Connection | AsyncSession, sql: str, params: Mapping[str, Any]
) -> list[asyncpg.Record]:
    statement = compile_named(sql)
    if isinstance(connection, AsyncSession):
        connection = await driver_connection(connection)
    rows: list[asyncpg.Record] = await connection.fetch(statement.sql, *statement.args(params))
    return rows


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset on release: reads leave no session state behind (single autocommitted
    statements; asyncpg itself rolls back a transaction left open), so asyncpg's default reset
    query would only be a second round trip per read."""


class Reader:
    """Runs the usage reads: one statement each, on a pooled connection held for that round
    trip only.

    Its own asyncpg pool (opened by ``start``, in the lifespan): a checkout through
    SQLAlchemy's pool costs three greenlet switches per read. A burst beyond ``size`` waits
    for a free connection; SQLAlchemy's overflow would open a connection per excess request
    and close it again on return, a backend fork each. Without ``start`` (or with the app
    bound to one connection, as tests do) reads take the engine's pool, ``size`` at once.
    """

    def __init__(self, database: Database, url: str, size: int) -> None:
        self._database = database
        self._url = libpq_url(async_url(url))
        self._size = size
        self._slots = asyncio.Semaphore(size)
        self._pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        if self._pool is not None or isinstance(
            self._database.sessionmaker.kw.get("bind"), AsyncConnection
        ):
            return
        # min_size 0: no connection at start, so a database that is down makes the readiness
        # probe fail rather than the process.
        self._pool = await asyncpg.create_pool(
            self._url, min_size=0, max_size=self._size, reset=_keep_session
        )

    async def stop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> list[asyncpg.Record]:
        pool = self._pool
        if pool is None:
            async with self._slots, read_connection(self._database) as connection:
                return await fetch(connection, sql, params)
        statement = compile_named(sql)
        async with pool.acquire() as connection:
            rows: list[asyncpg.Record] = await connection.fetch(
                statement.sql, *statement.args(params)
            )
        return rows


async def copy_records(
    session: AsyncSession, table: str, columns: Sequence[str], records: list[tuple[Any, ...]]
) -> None:
    connection = await driver_connection(session)
    await connection.copy_records_to_table(table, records=records, columns=list(columns))
