"""Fixtures for the ftps-publisher: a real service (FTPS server, publisher) on its own committed
database, REP key pairs held by a client-side keyring, a seeder that writes usage rows the way
ingest leaves them, and an FTPS client helper built on stdlib ``ftplib.FTP_TLS``.

The FTPS server reaches the database from its own threads, so these tests commit their data
to a dedicated database (``meterhub_ftps_e2e``) instead of the rolled-back test connection;
each test uses its own REP DUNS numbers.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import random
import ssl
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from ftplib import FTP_TLS
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI

from meterhub_common.auth import hash_secret
from meterhub_common.db import async_url
from meterhub_common.devtls import client_ssl_context
from meterhub_common.domain.operating_day import intervals_in_day
from meterhub_common.pgp import Keyring
from meterhub_devstack.pg import PostgresCluster
from meterhub_devstack.testing import migrate
from meterhub_ftps_publisher.main import create_app
from meterhub_ftps_publisher.settings import FtpsPublisherSettings

PASSWORD = "correct horse battery staple"
TDSP = "007924772"
_duns_counter = itertools.count(1)
_esiid_counter = itertools.count(1)
_RUN = random.randrange(10**4)


def new_duns() -> str:
    return f"9{_RUN:04d}{next(_duns_counter):04d}"


def new_esiid() -> str:
    return f"10443720{_RUN:04d}{next(_esiid_counter):05d}"


@pytest.fixture(scope="session")
def e2e_database_url(pg_cluster: PostgresCluster) -> str:
    async def create() -> None:
        admin = await asyncpg.connect(
            host="127.0.0.1", port=pg_cluster.port, user=pg_cluster.user, database="postgres"
        )
        try:
            await admin.execute('DROP DATABASE IF EXISTS "meterhub_ftps_e2e" WITH (FORCE)')
            await admin.execute('CREATE DATABASE "meterhub_ftps_e2e"')
        finally:
            await admin.close()

    asyncio.run(create())
    url = f"postgresql://{pg_cluster.user}@127.0.0.1:{pg_cluster.port}/meterhub_ftps_e2e"
    migrate(url, "upgrade", "head")
    return url


@dataclass
class Rep:
    duns: str
    fingerprint: str
    folder: Path


class ClientKeys:
    """The REPs' side: their secret keys, to decrypt what they download."""

    def __init__(self, home: Path) -> None:
        self.keyring = Keyring(home)

    def new_key(self, name: str) -> str:
        return self.keyring.generate_key(name, f"{name.lower().replace(' ', '.')}@example.com")

    def armored(self, fingerprint: str) -> str:
        return self.keyring.export_public(fingerprint)

    def decrypt_zip(self, data: bytes) -> dict[str, bytes]:
        plain = self.keyring.decrypt(data)
        with zipfile.ZipFile(io.BytesIO(plain)) as archive:
            assert archive.testzip() is None
            return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture(scope="session")
def client_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClientKeys]:
    keys = ClientKeys(tmp_path_factory.mktemp("ck"))
    yield keys
    keys.keyring.close()


@dataclass
class Service:
    app: FastAPI
    settings: FtpsPublisherSettings
    pool: asyncpg.Pool
    ca_file: Path

    @property
    def port(self) -> int:
        return int(self.app.state.ftps_server.address[1])

    @property
    def root(self) -> Path:
        return Path(self.settings.root)


@pytest.fixture(scope="session")
def e2e_settings(
    e2e_database_url: str,
    common_settings: dict[str, object],
    tmp_path_factory: pytest.TempPathFactory,
) -> FtpsPublisherSettings:
    base = tmp_path_factory.mktemp("ftps")
    low = random.randrange(30000, 59000)
    values: dict[str, Any] = {
        **common_settings,
        "database_url": async_url(e2e_database_url),
        "root": base / "root",
        "gnupg_home": tmp_path_factory.mktemp("g"),
        "dev_ca_dir": base / "ca",
        "ftps_host": "127.0.0.1",
        "ftps_port": 0,
        "passive_ports": f"{low}-{low + 40}",
        "start_publisher": False,
        "publish_workers": 1,
        "lockout_threshold": 4,
        "auth_failed_delay_seconds": 0.05,
        "max_connections_per_ip": 0,
    }
    return FtpsPublisherSettings(**values)


@pytest.fixture(scope="session")
async def service(e2e_settings: FtpsPublisherSettings) -> AsyncIterator[Service]:
    app = create_app(e2e_settings)
    async with app.router.lifespan_context(app):
        yield Service(
            app, e2e_settings, app.state.publisher_pool, e2e_settings.dev_ca_dir / "ca.pem"
        )


class Seeder:
    """Writes (and commits) what ingest would: files, service history, versioned reads,
    change events; and sets up REPs (account, key)."""

    def __init__(self, service: Service, keys: ClientKeys) -> None:
        self.service = service
        self.pool = service.pool
        self.keys = keys

    async def rep(self, *, password: str = PASSWORD, key: bool = True) -> Rep:
        duns = new_duns()
        fingerprint = ""
        await self.pool.execute(
            "INSERT INTO ftps_accounts (rep_duns, password_hash) VALUES ($1, $2)",
            duns,
            await asyncio.to_thread(hash_secret, password),
        )
        if key:
            fingerprint = await asyncio.to_thread(self.keys.new_key, f"REP {duns}")
            await self.add_key(duns, fingerprint, "active")
        return Rep(duns, fingerprint, self.service.root / duns)

    async def add_key(self, duns: str, fingerprint: str, status: str) -> None:
        armored = await asyncio.to_thread(self.keys.armored, fingerprint)
        await self.pool.execute(
            "INSERT INTO ftps_rep_keys (id, rep_duns, fingerprint, armored, status) "
            "VALUES ($1, $2, $3, $4, $5)",
            uuid.uuid4(),
            duns,
            fingerprint,
            armored,
            status,
        )

    async def tdsp_file(self, kind: str = "lse") -> uuid.UUID:
        file_id = uuid.uuid4()
        await self.pool.execute(
            "INSERT INTO tdsp_files (id, sender_duns, kind, sha256, size_bytes, encrypted, via,"
            " status, attempts) VALUES ($1, $2, $3, $4, 1, true, 'api', 'loaded', 1)",
            file_id,
            TDSP,
            kind,
            uuid.uuid4().hex + uuid.uuid4().hex,
        )
        return file_id

    async def esiid(self, rep: str, start: date, end: date | None = None) -> str:
        esiid = new_esiid()
        await self.pool.execute(
            "INSERT INTO esiids (esiid, tdsp_duns, premise_type) VALUES ($1, $2, 'residential')",
            esiid,
            TDSP,
        )
        await self.serve(esiid, rep, start, end)
        return esiid

    async def serve(self, esiid: str, rep: str, start: date, end: date | None) -> None:
        await self.pool.execute(
            "INSERT INTO service_history (esiid, start_date, end_date, rep_duns) "
            "VALUES ($1, $2, $3, $4)",
            esiid,
            start,
            end,
            rep,
        )

    async def intervals(
        self,
        esiid: str,
        day: date,
        file_id: uuid.UUID,
        *,
        channel: int = 4,
        kwh: list[Decimal | None] | None = None,
        statuses: str | None = None,
        revision_at: datetime | None = None,
    ) -> tuple[list[Decimal | None], str]:
        count = intervals_in_day(day)
        if kwh is None:
            seed = random.randrange(1000)
            kwh = [Decimal(f"{(seed + i * 37) % 2000 / 1000:.3f}") for i in range(count)]
        statuses = statuses or "A" * count
        await self.pool.execute(
            "SELECT meterhub_ensure_month_partitions('interval_reads', $1, $1)", day
        )
        async with self.pool.acquire() as conn, conn.transaction():
            version = await conn.fetchval(
                "UPDATE interval_reads SET is_current = false, superseded_at = now() "
                "WHERE esiid = $1 AND channel = $2 AND operating_day = $3 AND is_current "
                "RETURNING version",
                esiid,
                channel,
                day,
            )
            await conn.execute(
                "INSERT INTO interval_reads (esiid, channel, operating_day, version, is_current,"
                " interval_count, kwh, statuses, record_created_at, revision_at, source_file_id,"
                " transaction_id) VALUES ($1, $2, $3, $4, true, $5, $6, $7, $8, $8, $9, $10)",
                esiid,
                channel,
                day,
                (version or 0) + 1,
                count,
                "{" + ",".join("NULL" if v is None else str(v) for v in kwh) + "}",
                statuses,
                revision_at or datetime.now(UTC),
                file_id,
                uuid.uuid4().hex,
            )
        return kwh, statuses

    async def daily(
        self, esiid: str, day: date, file_id: uuid.UUID, start: Decimal, end: Decimal
    ) -> None:
        await self.pool.execute(
            "INSERT INTO daily_reads (esiid, meter_number, read_date, version, is_current,"
            " start_reading, end_reading, kwh, record_created_at, revision_at, source_file_id)"
            " VALUES ($1, 'M1', $2, 1, true, $3, $4, $5, now(), now(), $6)",
            esiid,
            day,
            start,
            end,
            end - start,
            file_id,
        )

    async def event(
        self,
        file_id: uuid.UUID,
        rep: str,
        day: date,
        *,
        kind: str = "lse",
        supplemental: bool = False,
        count: int = 1,
    ) -> int:
        event_id: int = await self.pool.fetchval(
            "INSERT INTO usage_change_events (file_id, rep_duns, operating_day, kind,"
            " supplemental, esiid_count) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            file_id,
            rep,
            day,
            kind,
            supplemental,
            count,
        )
        return event_id


@pytest.fixture
async def seeder(service: Service, client_keys: ClientKeys) -> Seeder:
    return Seeder(service, client_keys)


class Client:
    """A REP's FTPS job, with stdlib ftplib: AUTH TLS, login, PROT P, RETR."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def login(
        self, duns: str, password: str = PASSWORD, *, context: ssl.SSLContext | None = None
    ) -> FTP_TLS:
        context = context or client_ssl_context(self.service.ca_file)
        ftp = FTP_TLS(context=context, timeout=15)  # noqa: S321 (FTP over TLS is the point)
        ftp.connect("127.0.0.1", self.service.port)
        ftp.auth()
        ftp.login(duns, password)
        ftp.prot_p()
        return ftp

    @staticmethod
    def download(ftp: FTP_TLS, name: str) -> bytes:
        buffer = io.BytesIO()
        ftp.retrbinary(f"RETR {name}", buffer.write)
        return buffer.getvalue()

    @staticmethod
    def read_csv(data: bytes) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(data.decode("ascii"))))


@pytest.fixture
def client(service: Service) -> Client:
    return Client(service)
