"""Helpers the test suite and benchmarks share (fixtures themselves live in tests/)."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy.ext.asyncio import AsyncConnection, async_sessionmaker

from meterhub_common.db import Database


def migrate(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``meterhub-migrate`` in its own process, as the Helm hook does."""
    return subprocess.run(
        [sys.executable, "-m", "meterhub_common.migrate", *args, "--database-url", database_url],
        capture_output=True,
        text=True,
        check=True,
    )


def bind_database_to(database: Database, connection: AsyncConnection) -> None:
    """Make an app's sessions use the test's connection, so their commits become savepoints."""
    database.sessionmaker = async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
