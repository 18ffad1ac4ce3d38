"""The upload page in headless Chromium, against the service run by uvicorn over TLS with its
worker processes: sign in, upload a file with a good and a bad record, read the report.

The server is another process, so this test commits its data (its own DUNS and ESI IDs) and
deletes it afterwards.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import ssl
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest

from meterhub_common.db import libpq_url
from meterhub_common.devtls import ensure_dev_ca, issue_server_cert
from meterhub_common.domain import today_central
from meterhub_devstack.pg import free_port
from tests.ingest.files.conftest import Keys, lse_bytes, record, seal
from tests.ingest.upload.conftest import secret_hash

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECRET = "a browser secret that is long enough"


@dataclass
class Tenant:
    duns: str
    client_id: str
    ids: list[str]


@pytest.fixture
async def tenant(database_url: str) -> AsyncIterator[Tenant]:
    conn = await asyncpg.connect(libpq_url(database_url))
    duns = f"7{random.randrange(10**8):08d}"
    prefix = f"98{random.randrange(10**6):06d}"
    tenant = Tenant(duns, f"browser-{duns}", [f"{prefix}{n:09d}" for n in (1, 2)])
    entity = uuid.uuid4()
    await conn.execute(
        "INSERT INTO entities (id, duns, name, role) VALUES ($1, $2, 'Browser TDSP', 'tdsp')",
        entity,
        duns,
    )
    await conn.execute(
        "INSERT INTO api_clients (client_id, entity_id, secret_hash) VALUES ($1, $2, $3)",
        tenant.client_id,
        entity,
        secret_hash(SECRET),
    )
    await conn.executemany(
        "INSERT INTO esiids (esiid, tdsp_duns, premise_type) VALUES ($1, $2, 'residential')",
        [(e, duns) for e in tenant.ids],
    )
    try:
        yield tenant
    finally:
        files = "SELECT id FROM tdsp_files WHERE sender_duns = $1"
        await conn.execute(f"DELETE FROM interval_reads WHERE source_file_id IN ({files})", duns)
        await conn.execute(f"DELETE FROM usage_change_events WHERE file_id IN ({files})", duns)
        await conn.execute("DELETE FROM tdsp_files WHERE sender_duns = $1", duns)
        await conn.execute("DELETE FROM esiids WHERE esiid = ANY($1)", tenant.ids)
        await conn.execute("DELETE FROM api_clients WHERE client_id = $1", tenant.client_id)
        await conn.execute("DELETE FROM entities WHERE id = $1", entity)
        await conn.close()


@pytest.fixture
async def server(
    common_settings: dict[str, object], keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    tls = tmp_path_factory.mktemp("tls")
    cert = issue_server_cert(ensure_dev_ca(tls), tls, "ingest", ["127.0.0.1"])
    port = free_port()
    log = tls / "uvicorn.log"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "DATABASE_URL": str(common_settings["database_url"]),
        "MH_TOKEN_PUBLIC_KEY_FILE": str(common_settings["token_public_key_file"]),
        "MH_ENVIRONMENT": "test",
        "MH_INGEST_PGP_HOME": str(keys.repo.home),
        "MH_INGEST_SESSION_SECRET": "browser-test-session-secret",
        "MH_INGEST_WORKERS": "1",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "meterhub_ingest.main:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--ssl-certfile",
        str(cert.cert_path),
        "--ssl-keyfile",
        str(cert.key_path),
        env=env,
        stdout=log.open("wb"),
        stderr=asyncio.subprocess.STDOUT,
    )
    base = f"https://127.0.0.1:{port}"
    try:
        async with (
            httpx.AsyncClient(verify=ssl.create_default_context(cafile=tls / "ca.pem")) as probe,
            asyncio.timeout(30),
        ):
            while True:
                try:
                    if (await probe.get(f"{base}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            await process.wait()
    # uvicorn re-raises the SIGTERM after a clean shutdown; the log tells whether it was clean.
    output = log.read_text()
    assert "ingest-worker-0 stopped" in output
    assert "Application shutdown complete" in output


@pytest.mark.slow
async def test_sign_in_upload_and_read_a_rejection_in_chromium(
    server: str, tenant: Tenant, keys: Keys, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    day = today_central() - timedelta(days=2)
    good = lse_bytes([record(1, day, sender=tenant.duns, esiid=tenant.ids[0])])
    bad = lse_bytes([record(2, day, sender=tenant.duns, esiid=tenant.ids[1])])
    bad = bad.replace(b"10000005,", b"10000005,oops", 1)
    upload = tmp_path / f"{tenant.duns}IntervalData20261121000000001.lse.zip.pgp"
    upload.write_bytes(seal(keys, good + bad))
    bad_line = good.count(b"\n") + 1

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # No JavaScript at all: the page must work as plain HTML forms.
            context = await browser.new_context(ignore_https_errors=True, java_script_enabled=False)
            page = await context.new_page()
            await page.goto(f"{server}/upload")

            await page.fill("#client_id", tenant.client_id)
            await page.fill("#client_secret", "not the secret")
            await page.click("button.primary")
            alert = await page.inner_text("[role=alert]")
            assert "client id or secret is wrong" in alert
            assert await page.locator("#file").count() == 0

            await page.fill("#client_secret", SECRET)
            await page.click("button.primary")
            assert await page.inner_text("h1") == "Upload a file"
            cookies = await context.cookies()
            [session] = [c for c in cookies if c["name"] == "mh_upload_session"]
            assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Strict"

            await page.select_option("#kind", "lse")
            await page.set_input_files("#file", str(upload))
            await page.click("button.primary")
            assert await page.inner_text("h1") == "Activity report"

            # The page refreshes itself (meta refresh) until the worker has loaded the file.
            async with asyncio.timeout(60):
                while (status := await page.inner_text("#status")) in (  # noqa: ASYNC110
                    "received",
                    "processing",
                ):
                    await asyncio.sleep(0.3)
            assert status == "partially loaded"

            rows = [
                [cell.strip() for cell in (await row.inner_text()).split("\t")]
                for row in await page.locator("#results tbody tr").all()
            ]
            by_code = {row[1]: row for row in rows}
            assert set(by_code) == {"00", "01"}
            assert by_code["00"][0] == "1"
            assert by_code["01"][0] == str(bad_line)
            assert "oops" in by_code["01"][3]
            assert by_code["01"][4] == tenant.ids[1]
            await context.close()
        finally:
            await browser.close()
