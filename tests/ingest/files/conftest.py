"""Fixtures for the file API and loading tests: real gpg keys, the app bound to the test's
connection, and helpers to make, seal, send and load LSE files."""

from __future__ import annotations

import io
import random
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from meterhub_common.domain import CENTRAL
from meterhub_common.pgp import Keyring
from meterhub_devstack.testing import bind_database_to
from meterhub_ingest.files.pipeline import LoadContext, Outcome, process_pending
from meterhub_ingest.lse import ParsedRecord, render_lse, synthetic_record
from meterhub_ingest.main import create_app
from meterhub_ingest.settings import IngestSettings

SAMPLE = Path("/work/shared/samples/lse_sample_from_seed_004.csv")
SAMPLE_SENDER = "666666666"
SAMPLE_ESIID = "1000000000000000"
SENDER = "007924772"  # Oncor's DUNS; its ESI IDs start 10443720
OTHER_TDSP = "957877905"  # CenterPoint
REP_A = "111111111"
REP_B = "222222222"
TODAY = date(2026, 11, 23)


@dataclass
class Keys:
    repo: Keyring
    repo_fpr: str
    tdsp: Keyring  # a TDSP: holds the repository's public key, signs with its own
    tdsp_fpr: str
    stranger_fpr: str  # a key the repository has no secret for (held by the TDSP)


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keys]:
    base = tmp_path_factory.mktemp("pgp")
    repo = Keyring(base / "repo")
    tdsp = Keyring(base / "tdsp")
    repo_fpr = repo.generate_key("Meterhub test repository", "repo@meterhub.test")
    tdsp_fpr = tdsp.generate_key("Test TDSP", "tdsp@meterhub.test")
    stranger_fpr = tdsp.generate_key("Stranger", "stranger@meterhub.test")
    tdsp.import_keys(repo.export_public(repo_fpr))
    repo.import_keys(tdsp.export_public(tdsp_fpr))
    yield Keys(repo, repo_fpr, tdsp, tdsp_fpr, stranger_fpr)
    repo.close()
    tdsp.close()


def zipped(data: bytes, name: str = "data.lse") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def seal(keys: Keys, data: bytes, *, name: str = "data.lse", sign: bool = False) -> bytes:
    """Zip, then encrypt to the repository key, as a TDSP sends a file."""
    return keys.tdsp.encrypt(
        zipped(data, name),
        keys.repo_fpr,
        armor=False,
        sign_with=keys.tdsp_fpr if sign else None,
    )


def lse_bytes(records: Iterable[ParsedRecord]) -> bytes:
    return ("\n".join(render_lse(records)) + "\n").encode()


def esiid(n: int, prefix: str = "10443720") -> str:
    return f"{prefix}{n:09d}"


def record(
    n: int,
    day: date = date(2026, 11, 1),
    *,
    created: datetime = datetime(2026, 11, 2, 3, 0, tzinfo=CENTRAL),
    sender: str = SENDER,
    rep: str = REP_A,
    channel: int = 4,
    seed: int | None = None,
    **changes: Any,
) -> ParsedRecord:
    rec = synthetic_record(
        esiid(n),
        channel,
        day,
        created_at=created,
        rng=random.Random(seed if seed is not None else n),
        sender=sender,
        rep=rep,
    )
    return replace(rec, **changes) if changes else rec


@pytest.fixture
def settings(common_settings: dict[str, object], keys: Keys) -> IngestSettings:
    return IngestSettings(
        **common_settings,  # type: ignore[arg-type]
        workers=0,
        pgp_home=keys.repo.home,
        session_secret="test-session-secret",
        retry_delay_seconds=0,
    )


@pytest.fixture
def app(settings: IngestSettings, connection: AsyncConnection) -> FastAPI:
    app = create_app(settings)
    bind_database_to(app.state.database, connection)
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://ingest.test"
    ) as c:
        yield c


@pytest.fixture
async def raw(connection: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under the test's transaction (loads become savepoints)."""
    await connection.execute(text("SELECT 1"))  # make sure the outer transaction has begun
    fairy = await connection.get_raw_connection()
    driver = fairy.driver_connection
    assert isinstance(driver, asyncpg.Connection) and driver.is_in_transaction()
    return driver


@pytest.fixture
def ctx(keys: Keys) -> LoadContext:
    return LoadContext(keyring=keys.repo, today=lambda: TODAY, retry_delay_seconds=0)


@pytest.fixture
def auth(make_token: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token('tdsp', SENDER)}"}


async def add_esiids(
    connection: AsyncConnection, ids: Iterable[str], tdsp: str = SENDER, rep: str | None = REP_A
) -> None:
    for value in ids:
        await connection.execute(
            text(
                "INSERT INTO esiids (esiid, tdsp_duns, premise_type) VALUES (:e, :t, 'residential')"
            ),
            {"e": value, "t": tdsp},
        )
        if rep is not None:
            await connection.execute(
                text(
                    "INSERT INTO service_history (esiid, start_date, end_date, rep_duns) "
                    "VALUES (:e, DATE '2020-01-01', NULL, :r)"
                ),
                {"e": value, "r": rep},
            )


async def send(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    body: bytes,
    *,
    kind: str = "lse",
    filename: str = "data.lse.zip.pgp",
) -> dict[str, Any]:
    response = await client.post(
        "/v1/files", params={"kind": kind, "filename": filename}, content=body, headers=auth
    )
    assert response.status_code == 202, response.text
    result: dict[str, Any] = response.json()
    return result


async def load(raw: asyncpg.Connection, ctx: LoadContext) -> list[Outcome]:
    return await process_pending(raw, ctx)


async def report(
    client: httpx.AsyncClient, auth: dict[str, str], file_id: str
) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/files/{file_id}/report", headers=auth)
    assert response.status_code == 200, response.text
    lines: list[dict[str, Any]] = response.json()
    return lines


def new_id() -> uuid.UUID:
    return uuid.uuid4()
