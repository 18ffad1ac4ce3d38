"""An ad-hoc report end to end: POST /v1/reports, the worker started by the app's lifespan,
the real ftps-publisher (uvicorn over TLS on loopback, against the test database) placing the
zipped, encrypted file in the REP's folder, and the REP decrypting it."""

from __future__ import annotations

import asyncio
import io
import ssl
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from meterhub_common.domain.operating_day import today_central
from meterhub_common.pgp import Keyring
from meterhub_ftps_publisher.main import create_app as create_publisher
from meterhub_ftps_publisher.settings import FtpsPublisherSettings
from meterhub_usage_api.main import create_app
from meterhub_usage_api.settings import UsageApiSettings
from meterhub_usage_api.usage.render import INTERVAL_CSV_HEADER
from tests.usage_api.agreements.conftest import random_duns
from tests.usage_api.conftest import bearer
from tests.usage_api.reports.live import CommittedData, free_port, loopback_cert, serve

pytestmark = pytest.mark.slow


@pytest.fixture
async def committed(engine: AsyncEngine) -> AsyncIterator[CommittedData]:
    data = CommittedData(engine)
    yield data
    await data.remove()


async def test_report_lands_in_the_ftps_folder(
    committed: CommittedData,
    common_settings: dict[str, Any],
    token_keys: tuple[Path, Path],
    make_token: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # gpg's agent socket lives in its home: keep the path short.
    tmp = tmp_path_factory.mktemp("e2e")
    cert, ca_file = loopback_cert(tmp)
    day = today_central() - timedelta(days=3)
    duns = random_duns()
    async with committed.builder() as data:
        rep = await data.entity("rep", duns)
        mine = [await data.esiid(), await data.esiid()]
        theirs = await data.esiid()
        for esiid in mine:
            await data.service(esiid, duns, day - timedelta(days=30))
        await data.service(theirs, random_duns(), day - timedelta(days=30))
        for esiid in [*mine, theirs]:
            await data.intervals(esiid, day)
    rep_token = make_token("rep", duns, entity_id=rep, client_id="rep-e2e")

    rep_keys = Keyring(tmp / "rep-gpg")
    fingerprint = await asyncio.to_thread(rep_keys.generate_key, "REP e2e", "rep@e2e.test")
    armored = await asyncio.to_thread(rep_keys.export_public, fingerprint)

    publisher = create_publisher(
        FtpsPublisherSettings(
            **common_settings,
            root=tmp / "ftps",
            gnupg_home=tmp / "pub-gpg",
            start_ftps_server=False,
            start_publisher=False,
            publish_workers=0,
        )
    )
    try:
        async with serve(publisher, free_port(), cert) as publisher_url:
            trust = ssl.create_default_context(cafile=str(ca_file))
            async with httpx.AsyncClient(verify=trust) as client:
                registered = await client.post(
                    f"{publisher_url}/v1/keys",
                    json={"armored_key": armored},
                    headers=bearer(rep_token),
                )
                assert registered.status_code == 201, registered.text

            usage = create_app(
                UsageApiSettings(
                    **common_settings,
                    token_private_key_file=token_keys[0],
                    ftps_publisher_url=publisher_url,
                    ca_cert_file=ca_file,
                    report_spool_dir=tmp / "spool",
                    report_poll_seconds=0.5,
                    start_agreement_jobs=False,
                )
            )
            async with usage.router.lifespan_context(usage):
                transport = httpx.ASGITransport(app=usage)
                async with httpx.AsyncClient(transport=transport, base_url="http://u") as api:
                    ordered = await api.post(
                        "/v1/reports",
                        json={
                            "type": "interval",
                            "esiids": [mine[0], theirs, mine[1]],
                            "start": day.isoformat(),
                            "end": day.isoformat(),
                        },
                        headers=bearer(rep_token),
                    )
                    assert ordered.status_code == 202, ordered.text
                    report_url = ordered.headers["location"]
                    for _ in range(300):
                        shown = (await api.get(report_url, headers=bearer(rep_token))).json()
                        if shown["status"] in ("completed", "failed"):
                            break
                        await asyncio.sleep(0.1)
        assert shown["status"] == "completed", shown
        assert shown["excluded_esiids"] == [theirs]
        [placed] = shown["files"]
        path = tmp / "ftps" / duns / placed["file_name"]
        assert path.name.endswith(".csv.zip.asc")
        armored_file = await asyncio.to_thread(path.read_bytes)
        assert armored_file.startswith(b"-----BEGIN PGP MESSAGE-----")
        zipped = await asyncio.to_thread(rep_keys.decrypt, armored_file)
        with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
            [entry] = archive.namelist()
            lines = archive.read(entry).decode().split("\r\n")[:-1]
        assert entry == placed["file_name"].removesuffix(".zip.asc")
        assert lines[0] == INTERVAL_CSV_HEADER
        per_esiid = {e: sum(1 for line in lines if line.startswith(e + ",")) for e in mine}
        assert per_esiid == {e: len(lines[1:]) // 2 for e in mine}
        assert len(lines) - 1 == shown["counts"]["records"] == 2 * per_esiid[mine[0]]
        assert not any(line.startswith(theirs) for line in lines)
    finally:
        rep_keys.close()
