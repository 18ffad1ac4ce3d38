"""Startup work that keeps the first burst of calls fast must not keep the service down."""

from __future__ import annotations

from meterhub_common.db import Database
from meterhub_devstack.pg import free_port
from meterhub_han.main import _open_pool


async def test_the_pool_is_opened_at_startup(database_url: str) -> None:
    database = Database(database_url, pool_size=3)
    try:
        await _open_pool(database, 3)
        assert database.engine.pool.checkedin() == 3  # type: ignore[attr-defined]
    finally:
        await database.dispose()


async def test_a_database_that_is_down_does_not_stop_startup() -> None:
    database = Database(f"postgresql://nobody@127.0.0.1:{free_port()}/nothing", pool_size=2)
    try:
        await _open_pool(database, 2)  # logs a warning and returns
    finally:
        await database.dispose()
