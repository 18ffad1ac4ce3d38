"""The real worker process: woken by NOTIFY, killed with SIGKILL mid-load, restarted.

These tests commit (a worker in another process cannot see the test's rolled-back
transaction), so they use their own sender DUNS and ESI IDs and delete what they made.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from meterhub_common.db import libpq_url
from meterhub_common.domain import today_central
from meterhub_ingest.files.pipeline import LoadContext, process_file
from meterhub_ingest.main import create_app
from meterhub_ingest.settings import IngestSettings
from tests.ingest.files.conftest import Keys, lse_bytes, record, seal

RECORDS = 40


@pytest.fixture
async def committed(database_url: str) -> AsyncIterator[tuple[asyncpg.Connection, str, list[str]]]:
    """A sender DUNS and ESI IDs of its own, committed; everything is deleted afterwards."""
    conn = await asyncpg.connect(libpq_url(database_url))
    sender = f"8{random.randrange(10**8):08d}"
    prefix = f"99{random.randrange(10**6):06d}"
    ids = [f"{prefix}{n:09d}" for n in range(1, RECORDS + 1)]
    await conn.executemany(
        "INSERT INTO esiids (esiid, tdsp_duns, premise_type) VALUES ($1, $2, 'residential')",
        [(e, sender) for e in ids],
    )
    await conn.executemany(
        "INSERT INTO service_history (esiid, start_date, rep_duns) VALUES ($1, '2020-01-01', $2)",
        [(e, "111111111") for e in ids],
    )
    try:
        yield conn, sender, ids
    finally:
        files = "SELECT id FROM tdsp_files WHERE sender_duns = $1"
        await conn.execute(f"DELETE FROM interval_reads WHERE source_file_id IN ({files})", sender)
        await conn.execute(f"DELETE FROM usage_change_events WHERE file_id IN ({files})", sender)
        await conn.execute("DELETE FROM tdsp_files WHERE sender_duns = $1", sender)
        await conn.execute("DELETE FROM service_history WHERE esiid = ANY($1)", ids)
        await conn.execute("DELETE FROM esiids WHERE esiid = ANY($1)", ids)
        await conn.close()


class WorkerProcess:
    """``python -m meterhub_ingest.files.worker`` with the service's environment."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.process: asyncio.subprocess.Process | None = None
        self.lines: list[dict[str, Any]] = []

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "meterhub_ingest.files.worker",
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        await self.wait_for("started")

    async def wait_for(self, words: str, seconds: float = 30) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        async with asyncio.timeout(seconds):
            while True:
                raw = await self.process.stdout.readline()
                if not raw:
                    raise AssertionError(f"worker exited before logging {words!r}: {self.lines}")
                try:
                    entry: dict[str, Any] = json.loads(raw)
                except ValueError:
                    entry = {"message": raw.decode(errors="replace")}
                self.lines.append(entry)
                if words in str(entry.get("message", "")):
                    return entry

    async def stop(self) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            rest, _ = await self.process.communicate()
        for raw in rest.splitlines():
            try:
                self.lines.append(json.loads(raw))
            except ValueError:
                self.lines.append({"message": raw.decode(errors="replace")})
        return self.process.returncode or 0

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)


async def _status(conn: asyncpg.Connection, file_id: uuid.UUID) -> str:
    status: str = await conn.fetchval("SELECT status FROM tdsp_files WHERE id = $1", file_id)
    return status


def _env(settings: IngestSettings, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "DATABASE_URL": settings.database_url,
        "MH_TOKEN_PUBLIC_KEY_FILE": str(settings.token_public_key_file),
        "MH_ENVIRONMENT": "test",
        "MH_INGEST_PGP_HOME": str(settings.pgp_home),
        "MH_INGEST_SESSION_SECRET": "unused-by-workers",
        "MH_INGEST_RETRY_DELAY_SECONDS": "0",
        # Only NOTIFY can wake it within the test's patience.
        "MH_INGEST_POLL_SECONDS": "600",
    }
    env.update(extra)
    return env


@pytest.mark.slow
async def test_kill_9_mid_load_then_restart_loads_each_record_exactly_once(
    committed: tuple[asyncpg.Connection, str, list[str]],
    common_settings: dict[str, object],
    keys: Keys,
    make_token: Any,
) -> None:
    conn, sender, ids = committed
    settings = IngestSettings(
        **common_settings,  # type: ignore[arg-type]
        workers=0,
        pgp_home=keys.repo.home,
        session_secret="s",
    )
    day = today_central() - timedelta(days=3)
    records = [record(1, day, sender=sender, esiid=e) for e in ids]
    body = seal(keys, lse_bytes(records))

    paused = WorkerProcess(_env(settings, MH_INGEST_PAUSE_BEFORE_COMMIT_SECONDS="120"))
    await paused.start()
    app = create_app(settings)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://ingest.test"
        ) as client:
            response = await client.post(
                "/v1/files",
                params={"kind": "lse"},
                content=body,
                headers={"Authorization": f"Bearer {make_token('tdsp', sender)}"},
            )
        assert response.status_code == 202
        file_id = uuid.UUID(response.json()["file_id"])
    finally:
        await app.state.database.dispose()

    # Woken by NOTIFY (it polls only every 10 minutes), it loads and holds before commit.
    await paused.wait_for("pausing")
    row = await conn.fetchrow("SELECT status, attempts FROM tdsp_files WHERE id = $1", file_id)
    assert (row["status"], row["attempts"]) == ("processing", 1)
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM interval_reads WHERE source_file_id = $1", file_id
        )
        == 0
    )
    paused.kill()
    assert await paused.stop() == -signal.SIGKILL

    # Nothing of the killed attempt is visible; the file waits, claimable.
    assert (
        await conn.fetchval("SELECT count(*) FROM tdsp_file_results WHERE file_id = $1", file_id)
        == 0
    )

    again = WorkerProcess(_env(settings))
    await again.start()
    try:
        async with asyncio.timeout(60):
            while await _status(conn, file_id) != "loaded":  # noqa: ASYNC110 - another process
                await asyncio.sleep(0.1)
    finally:
        assert await again.stop() == 0  # SIGTERM: a clean exit
    assert any("stopped" in str(line.get("message")) for line in again.lines)

    done = await conn.fetchrow(
        "SELECT status, attempts, records_total, records_loaded FROM tdsp_files WHERE id = $1",
        file_id,
    )
    assert dict(done) == {
        "status": "loaded",
        "attempts": 2,
        "records_total": RECORDS,
        "records_loaded": RECORDS,
    }
    per_key = await conn.fetch(
        "SELECT esiid, count(*) AS n, bool_and(is_current) AS cur, max(version) AS v "
        "FROM interval_reads WHERE esiid = ANY($1) GROUP BY esiid",
        ids,
    )
    assert len(per_key) == RECORDS
    assert all((r["n"], r["cur"], r["v"]) == (1, True, 1) for r in per_key)
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM tdsp_file_results WHERE file_id = $1 AND code = '00'", file_id
        )
        == RECORDS
    )
    events = await conn.fetch(
        "SELECT rep_duns, esiid_count FROM usage_change_events WHERE file_id = $1", file_id
    )
    assert [tuple(e) for e in events] == [("111111111", RECORDS)]


async def _insert_file(conn: asyncpg.Connection, sender: str, body: bytes) -> uuid.UUID:
    file_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO tdsp_files (id, sender_duns, kind, sha256, size_bytes, encrypted, via, "
        "status, attempts) VALUES ($1, $2, 'lse', $3, $4, true, 'api', 'received', 0)",
        file_id,
        sender,
        file_id.hex,
        len(body),
    )
    await conn.execute(
        "INSERT INTO tdsp_file_blobs (file_id, content) VALUES ($1, $2)", file_id, body
    )
    return file_id


async def test_concurrent_loads_of_the_same_keys_end_consistent(
    committed: tuple[asyncpg.Connection, str, list[str]], database_url: str, keys: Keys
) -> None:
    """Two workers load files with the same keys at once: the later timestamp wins."""
    conn, sender, ids = committed
    day = today_central() - timedelta(days=3)
    older = [record(1, day, sender=sender, esiid=e) for e in ids]
    newer = [
        record(1, day, sender=sender, esiid=e, seed=5, created_at=r.created_at + timedelta(hours=1))
        for e, r in zip(ids, older, strict=True)
    ]
    first = await _insert_file(conn, sender, seal(keys, lse_bytes(older)))
    second = await _insert_file(conn, sender, seal(keys, lse_bytes(newer)))
    a = await asyncpg.connect(libpq_url(database_url))
    b = await asyncpg.connect(libpq_url(database_url))
    try:
        slow = LoadContext(keyring=keys.repo, pause_before_commit=1.0)
        quick = LoadContext(keyring=keys.repo)
        loading = asyncio.ensure_future(process_file(a, first, slow))
        await asyncio.sleep(0.3)  # the first holds its new rows, uncommitted
        late = await process_file(b, second, quick)
        early = await loading
    finally:
        await a.close()
        await b.close()
    assert early is not None and late is not None
    assert (early.status, late.status) == ("loaded", "loaded")
    assert late.summary is not None and late.summary.loaded == RECORDS
    rows = await conn.fetch(
        "SELECT esiid, version, is_current, source_file_id FROM interval_reads "
        "WHERE esiid = ANY($1) ORDER BY esiid, version",
        ids,
    )
    assert len(rows) == 2 * RECORDS
    assert all(
        (r["version"], r["is_current"], r["source_file_id"])
        == ((1, False, first) if r["version"] == 1 else (2, True, second))
        for r in rows
    )
