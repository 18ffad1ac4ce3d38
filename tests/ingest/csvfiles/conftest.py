"""Fixtures for the CSV loaders: a raw asyncpg connection in the test's transaction, and a way
to load a file's text through a loader the way the pipeline does (a tdsp_files row first, the
text cut into lines by the pipeline's own reader, which drops the line ends)."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from meterhub_ingest.csvfiles import LOADERS
from meterhub_ingest.files.report import LoadSummary
from meterhub_ingest.files.unpack import lines_from

SAMPLES = Path(__file__).resolve().parents[3] / "services" / "ingest" / "samples"
NOW = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)  # 12:00 in Dallas, operating day 2026-03-10
ONCOR = "1039940674000"


@dataclass(frozen=True)
class Loaded:
    file_id: uuid.UUID
    summary: LoadSummary
    results: dict[int, tuple[str, str]]  # line -> (code, message)

    def codes(self) -> dict[int, str]:
        return {line: code for line, (code, _) in self.results.items()}


LoadCsv = Callable[..., Awaitable[Loaded]]


@pytest.fixture
async def raw(connection: AsyncConnection) -> asyncpg.Connection:
    # SQLAlchemy begins the driver's transaction lazily; start it so that everything done on
    # the raw connection (COPY included) is rolled back with the test.
    await connection.execute(text("SELECT 1"))
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver.is_in_transaction()
    return driver


@pytest.fixture
def load_csv(raw: asyncpg.Connection) -> LoadCsv:
    async def load(kind: str, text: str, *, sender: str = ONCOR, now: datetime = NOW) -> Loaded:
        file_id = uuid.uuid4()
        await raw.execute(
            """
            INSERT INTO tdsp_files (id, sender_duns, kind, sha256, size_bytes, encrypted, via,
                                    status, attempts)
            VALUES ($1, $2, $3, $4, $5, false, 'api', 'processing', 1)
            """,
            file_id,
            sender,
            kind,
            hashlib.sha256(f"{file_id}{text}".encode()).hexdigest(),
            len(text),
        )
        summary = await LOADERS[kind](
            raw,
            file_id=file_id,
            sender_duns=sender,
            lines=lines_from(io.BytesIO(text.encode())),
            now=now,
        )
        rows = await raw.fetch(
            "SELECT line, code, message FROM tdsp_file_results WHERE file_id = $1", file_id
        )
        return Loaded(file_id, summary, {r["line"]: (r["code"], r["message"]) for r in rows})

    return load


@pytest.fixture
def sample() -> Callable[[str], str]:
    def read(kind: str) -> str:
        return (SAMPLES / f"{kind}.csv").read_text()

    return read
