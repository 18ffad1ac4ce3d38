"""Fixtures for the upload page: the file tests' fixtures, and TDSP sign-in credentials."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from meterhub_common.auth import hash_secret
from tests.ingest.files.conftest import (  # noqa: F401 - fixtures shared with the file tests
    SENDER,
    app,
    auth,
    client,
    ctx,
    keys,
    raw,
    settings,
)


@dataclass(frozen=True)
class Credentials:
    client_id: str
    secret: str
    duns: str
    name: str


SECRET_HASH_CACHE: dict[str, str] = {}


def secret_hash(secret: str) -> str:
    if secret not in SECRET_HASH_CACHE:
        SECRET_HASH_CACHE[secret] = hash_secret(secret)
    return SECRET_HASH_CACHE[secret]


async def add_client(
    connection: AsyncConnection, *, duns: str, role: str = "tdsp", name: str = "Oncor Electric"
) -> Credentials:
    entity = uuid.uuid4()
    creds = Credentials(f"client-{entity.hex[:8]}", "correct horse battery staple", duns, name)
    await connection.execute(
        text("INSERT INTO entities (id, duns, name, role) VALUES (:id, :duns, :name, :role)"),
        {"id": entity, "duns": duns, "name": name, "role": role},
    )
    await connection.execute(
        text("INSERT INTO api_clients (client_id, entity_id, secret_hash) VALUES (:c, :e, :h)"),
        {"c": creds.client_id, "e": entity, "h": secret_hash(creds.secret)},
    )
    return creds


@pytest.fixture
async def tdsp(connection: AsyncConnection) -> Credentials:
    return await add_client(connection, duns=SENDER)
