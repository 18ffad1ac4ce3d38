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

from meterhub_common.db import Database

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


class Reader:
    """Runs the usage reads: one statement each, on a pooled connection held for that round
    trip only, at most ``limit`` at once.

    A connection kept while the response was rendered and sent made 32 concurrent readers
    hold 32 connections. Even per statement, a burst of requests reaches the pool together,
    and beyond its size the pool opens overflow connections and closes them again on return
    (a backend fork each, a third of PostgreSQL's CPU in the benchmark); the semaphore makes
    a burst wait for a pooled connection instead.
    """

    def __init__(self, database: Database, limit: int) -> None:
        self._database = database
        self._slots = asyncio.Semaphore(limit)

    async def fetch(self, sql: str, params: Mapping[str, Any]) -> list[asyncpg.Record]:
        async with self._slots, read_connection(self._database) as connection:
            return await fetch(connection, sql, params)


async def copy_records(
    session: AsyncSession, table: str, columns: Sequence[str], records: list[tuple[Any, ...]]
) -> None:
    connection = await driver_connection(session)
    await connection.copy_records_to_table(table, records=records, columns=list(columns))
