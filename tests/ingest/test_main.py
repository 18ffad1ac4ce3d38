"""The ingest app: starts from environment variables alone; its lifespan runs the workers."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import text

from meterhub_common.pgp import Keyring
from meterhub_ingest.main import create_app
from meterhub_ingest.settings import IngestSettings


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch,
    common_settings: dict[str, object],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Keyring]:
    home = tmp_path_factory.mktemp("gpg")
    keyring = Keyring(home)
    keyring.generate_key("Repo", "repo@meterhub.test")
    for name in list(os.environ):
        if name.startswith("MH_INGEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", str(common_settings["database_url"]))
    monkeypatch.setenv("MH_TOKEN_PUBLIC_KEY_FILE", str(common_settings["token_public_key_file"]))
    monkeypatch.setenv("MH_ENVIRONMENT", "test")
    monkeypatch.setenv("MH_INGEST_PGP_HOME", str(home))
    monkeypatch.setenv("MH_INGEST_SESSION_SECRET", "from-the-environment")
    monkeypatch.setenv("MH_INGEST_WORKERS", "2")
    monkeypatch.setenv("MH_INGEST_POLL_SECONDS", "0.2")
    yield keyring
    keyring.close()


def test_settings_from_environment(env: Keyring, monkeypatch: pytest.MonkeyPatch) -> None:
    fpr = "ab" * 20
    monkeypatch.setenv("MH_INGEST_EXPECTED_SIGNERS", f'{{"007924772": "{fpr}"}}')
    monkeypatch.setenv("MH_INGEST_MAX_RECORDS", "1000")
    settings = IngestSettings()
    assert settings.workers == 2 and settings.max_records == 1000
    assert settings.expected_signers == {"007924772": fpr.upper()}
    assert settings.pgp_home == env.home
    assert settings.allow_unencrypted is False


def test_secrets_are_required_outside_development(
    env: Keyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MH_INGEST_SESSION_SECRET")
    with pytest.raises(ValidationError, match="session_secret"):
        IngestSettings()
    monkeypatch.setenv("MH_ENVIRONMENT", "development")
    assert IngestSettings().session_secret is None
    monkeypatch.setenv("MH_ENVIRONMENT", "production")
    monkeypatch.setenv("MH_INGEST_SESSION_SECRET", "x")
    monkeypatch.setenv("MH_INGEST_ALLOW_UNENCRYPTED", "true")
    with pytest.raises(ValidationError, match="allow_unencrypted"):
        IngestSettings()


async def _connected(app: Any) -> set[str]:
    async with app.state.database.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT application_name FROM pg_stat_activity WHERE datname = current_database()")
        )
        return {row[0] for row in rows}


@pytest.mark.slow
async def test_lifespan_runs_restarts_and_stops_the_workers(env: Keyring) -> None:
    app = create_app()
    async with app.router.lifespan_context(app):
        pool = app.state.worker_pool
        assert len(pool.processes) == 2
        assert all(p.is_alive() for p in pool.processes)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://ingest.test"
        ) as client:
            assert (await client.get("/v1/pgp-key")).status_code == 200
            assert (await client.get("/v1/files")).status_code == 401
            page = await client.get("/upload")
            assert page.status_code == 200 and "Sign in" in page.text
        victim = pool.processes[0]
        os.kill(victim.pid, signal.SIGKILL)
        async with asyncio.timeout(15):
            while pool.processes[0] is victim or not pool.processes[0].is_alive():  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        processes = list(pool.processes)
        # Stop once both are up and connected, waiting for work.
        names = {f"meterhub-{p.name}" for p in processes}
        async with asyncio.timeout(30):
            while names - await _connected(app):  # noqa: ASYNC110 - another process
                await asyncio.sleep(0.1)
    # Stopped on shutdown with SIGTERM, each exits by itself (code 0), nothing left behind.
    assert [p.exitcode for p in processes] == [0, 0]
