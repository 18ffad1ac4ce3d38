"""The reads' own connection pool: bounded, no reset round trip, and the engine's pool when the
app is bound to one connection (tests) or the pool is not started."""

from __future__ import annotations

import asyncio

from meterhub_common.db import Database
from meterhub_usage_api.database import Reader


async def test_reads_share_a_bounded_pool(database_url: str) -> None:
    database = Database(database_url, pool_size=2)
    reader = Reader(database, database_url, size=2)
    await reader.start()
    try:
        # More reads at once than connections: they wait for one, none fails or opens more.
        rows = await asyncio.gather(
            *(reader.fetch("SELECT pg_backend_pid() AS pid, pg_sleep(0.02)", {}) for _ in range(8))
        )
        assert len({row[0]["pid"] for row in rows}) <= 2
    finally:
        await reader.stop()
        await database.dispose()


async def test_a_released_connection_is_not_reset(database_url: str) -> None:
    # asyncpg's default reset (RESET ALL and more) on every release would be a second round
    # trip per read; reads set nothing, so nothing is reset: a setting survives the release.
    database = Database(database_url, pool_size=1)
    reader = Reader(database, database_url, size=1)
    await reader.start()
    try:
        await reader.fetch("SELECT set_config('application_name', 'left-behind', false)", {})
        rows = await reader.fetch("SELECT current_setting('application_name') AS name", {})
        assert rows[0]["name"] == "left-behind"
    finally:
        await reader.stop()
        await database.dispose()


async def test_without_start_reads_take_the_engine(database_url: str) -> None:
    database = Database(database_url, pool_size=1)
    reader = Reader(database, database_url, size=1)
    try:
        rows = await asyncio.gather(*(reader.fetch("SELECT 1 AS one", {}) for _ in range(4)))
        assert [row[0]["one"] for row in rows] == [1, 1, 1, 1]
        # The semaphore keeps the burst within the engine's pool: no overflow connection.
        assert database.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        assert database.engine.pool.size() == 1  # type: ignore[attr-defined]
        assert database.engine.pool.overflow() <= 0  # type: ignore[attr-defined]
    finally:
        await database.dispose()
