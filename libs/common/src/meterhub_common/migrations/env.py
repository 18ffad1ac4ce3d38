"""Alembic environment: async engine, and an advisory lock so concurrent migrators serialize.

Two replicas (or the Helm hook and a developer) may start migrating at once; the lock makes
the second wait and then find nothing left to do.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from meterhub_common.db import async_url
from meterhub_common.models import Base

MIGRATION_LOCK_ID = 0x6D657465  # "mete": any constant shared by every migrator


def _include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    # Monthly partitions are created by the partition maintenance job, not by models.
    return not (type_ == "table" and name is not None and "_p20" in name)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        include_object=_include_object,
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url must be set by meterhub_common.migrate"
    engine = create_async_engine(async_url(url))
    async with engine.connect() as connection:
        await connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        await connection.commit()
        try:
            await connection.run_sync(_run)
        finally:
            await connection.execute(
                text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID}
            )
            await connection.commit()
    await engine.dispose()


asyncio.run(_run_online())
