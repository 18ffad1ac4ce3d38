"""Fixtures for the whole suite: a real PostgreSQL that this session starts and migrates.

Every test that touches the database gets a connection inside a transaction that is rolled
back afterwards; apps under test are bound to that same connection.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from meterhub_common.auth import Principal, TokenIssuer, generate_signing_key
from meterhub_common.db import Database, async_url
from meterhub_common.models.usage_api import Role
from meterhub_devstack.pg import PostgresCluster
from meterhub_devstack.testing import migrate

ROOT = Path(__file__).resolve().parents[1]
# Parallel runs (several worktrees or agents) each set their own folder.
TEST_STATE = Path(os.environ.get("MH_TEST_STATE", ROOT / ".state" / "test"))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster.in_folder(TEST_STATE / "pg", preferred_port=0, test_mode=True)
    cluster.start()
    yield cluster
    # Left running on purpose when MH_KEEP_TEST_PG=1 (fast reruns while developing).
    if not os.environ.get("MH_KEEP_TEST_PG"):
        cluster.stop()


def _recreate_database(cluster: PostgresCluster, name: str) -> str:
    async def run() -> None:
        admin = await asyncpg.connect(
            host="127.0.0.1", port=cluster.port, user=cluster.user, database="postgres"
        )
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()

    asyncio.run(run())
    return f"postgresql://{cluster.user}@127.0.0.1:{cluster.port}/{name}"


@pytest.fixture(scope="session")
def database_url(pg_cluster: PostgresCluster) -> str:
    """A database built by the migrations, once per test session."""
    url = _recreate_database(pg_cluster, "meterhub_test")
    migrate(url, "upgrade", "head")
    return url


@pytest.fixture(scope="session")
def fresh_database(pg_cluster: PostgresCluster) -> Callable[[str], str]:
    """Make an empty database of the given name (dropped first if it exists); returns its URL."""
    return lambda name: _recreate_database(pg_cluster, name)


@pytest.fixture(scope="session")
def empty_database_url(pg_cluster: PostgresCluster) -> str:
    """A database with no migrations applied, for migration and readiness tests."""
    return _recreate_database(pg_cluster, "meterhub_empty")


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    database = Database(database_url, pool_size=5)
    yield database.engine
    await database.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """The test's connection: everything it does is rolled back at the end."""
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            yield conn
        finally:
            await transaction.rollback()


@pytest.fixture
async def session(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    maker = async_sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    async with maker() as s:
        yield s


@pytest.fixture(scope="session")
def token_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("token-keys")
    private, public = folder / "private.pem", folder / "public.pem"
    generate_signing_key(private, public)
    return private, public


@pytest.fixture(scope="session")
def token_issuer(token_keys: tuple[Path, Path]) -> TokenIssuer:
    return TokenIssuer(token_keys[0].read_bytes(), issuer="meterhub")


TokenFactory = Callable[..., str]


@pytest.fixture(scope="session")
def make_token(token_issuer: TokenIssuer) -> TokenFactory:
    def make(
        role: Role | str,
        duns: str | None = None,
        *,
        entity_id: uuid.UUID | None = None,
        client_id: str = "test-client",
        now: float | None = None,
    ) -> str:
        principal = Principal(
            entity_id=entity_id or uuid.uuid4(), role=Role(role), duns=duns, client_id=client_id
        )
        return token_issuer.issue(principal, now=now)

    return make


@pytest.fixture(scope="session")
def common_settings(database_url: str, token_keys: tuple[Path, Path]) -> dict[str, object]:
    """Keyword arguments every service's settings class accepts."""
    return {
        "environment": "test",
        "database_url": async_url(database_url),
        "token_public_key_file": token_keys[1],
        "database_pool_size": 2,
    }
