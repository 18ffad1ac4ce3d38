"""Fixtures for the usage API: an app bound to the test's connection, and a data builder that
inserts market data, usage versions, customers and agreements directly.

The app's "today" is pinned to TODAY, so the 48/13/24-month windows are the same on any date.
"""

from __future__ import annotations

import functools
import itertools
import random
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from meterhub_common.auth import hash_secret
from meterhub_common.domain.operating_day import intervals_in_day
from meterhub_devstack.testing import bind_database_to
from meterhub_usage_api.main import create_app
from meterhub_usage_api.settings import UsageApiSettings

TODAY = date(2026, 11, 20)
ONCOR = "007924772"
CENTERPOINT = "957877905"
REP_A = "148537214"
REP_B = "626765843"
ONCOR_PREFIX = "10443720"
CENTERPOINT_PREFIX = "1008901"

DEFAULT_PASSWORD = "correct horse"

_counter = itertools.count(1)


def new_esiid(prefix: str = ONCOR_PREFIX) -> str:
    # Unique per test run even against a database reused between runs.
    tail = f"{random.randrange(10**6):06d}{next(_counter):03d}"
    return (prefix + tail).ljust(17, "0")[:17]


def sample_kwh(day: date, seed: int = 0) -> list[str | None]:
    return [f"0.{(seed * 131 + i * 37) % 1000:03d}" for i in range(intervals_in_day(day))]


@functools.lru_cache(maxsize=32)
def secret_hash(secret: str) -> str:
    """argon2 is slow on purpose; hash each test secret once per session."""
    return hash_secret(secret)


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


class Builder:
    """Inserts rows the way ingest would leave them (versions as a push-down stack)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection
        self._partitions: set[tuple[int, int]] = set()

    async def execute(self, sql: str, **params: Any) -> Any:
        return await self.connection.execute(text(sql), params)

    async def entity(
        self, role: str, duns: str | None = None, name: str | None = None
    ) -> uuid.UUID:
        entity_id = uuid.uuid4()
        await self.execute(
            "INSERT INTO entities (id, duns, name, role) VALUES (:id, :duns, :name, :role)",
            id=entity_id,
            duns=duns,
            name=name or f"{role} {duns or entity_id}",
            role=role,
        )
        return entity_id

    async def api_client(
        self, entity_id: uuid.UUID, client_id: str, secret: str, *, disabled: bool = False
    ) -> None:
        await self.execute(
            "INSERT INTO api_clients (client_id, entity_id, secret_hash, disabled_at)"
            " VALUES (:client_id, :entity_id, :hash, :disabled)",
            client_id=client_id,
            entity_id=entity_id,
            hash=secret_hash(secret),
            disabled=datetime.now(UTC) if disabled else None,
        )

    async def customer(self, username: str, password: str = DEFAULT_PASSWORD) -> uuid.UUID:
        entity_id = await self.entity("customer", name=username)
        await self.execute(
            "INSERT INTO customer_accounts (entity_id, username, password_hash, email)"
            " VALUES (:id, :username, :hash, :email)",
            id=entity_id,
            username=username,
            hash=secret_hash(password),
            email=f"{username}@example.com",
        )
        return entity_id

    async def esiid(
        self,
        esiid: str | None = None,
        *,
        tdsp_duns: str = ONCOR,
        meters: tuple[str, ...] = ("M1",),
        city: str = "Dallas",
    ) -> str:
        esiid = esiid or new_esiid(ONCOR_PREFIX if tdsp_duns == ONCOR else CENTERPOINT_PREFIX)
        await self.execute(
            "INSERT INTO esiids (esiid, tdsp_duns, premise_type, address_line, city, state,"
            " zip_code) VALUES (:esiid, :tdsp, 'residential', '1 Main St', :city, 'TX', '75201')",
            esiid=esiid,
            tdsp=tdsp_duns,
            city=city,
        )
        for meter in meters:
            await self.execute(
                "INSERT INTO meters (esiid, meter_number, multiplier, manufacturer, install_date)"
                " VALUES (:esiid, :meter, 1, 'Landis+Gyr', DATE '2020-01-15')",
                esiid=esiid,
                meter=meter,
            )
        return esiid

    async def service(
        self, esiid: str, rep_duns: str, start: date, end: date | None = None
    ) -> None:
        await self.execute(
            "INSERT INTO service_history (esiid, start_date, end_date, rep_duns)"
            " VALUES (:esiid, :start, :end, :rep)",
            esiid=esiid,
            start=start,
            end=end,
            rep=rep_duns,
        )

    async def link(
        self, customer: uuid.UUID, esiid: str, start: date, end: date | None = None
    ) -> None:
        await self.execute(
            "INSERT INTO customer_esiid_links (entity_id, esiid, meter_number, start_date,"
            " end_date) VALUES (:customer, :esiid, 'M1', :start, :end)",
            customer=customer,
            esiid=esiid,
            start=start,
            end=end,
        )

    async def agreement(
        self,
        grantee: uuid.UUID,
        grantor: uuid.UUID,
        esiid: str,
        starts_on: date,
        ends_on: date,
        *,
        status: str = "accepted",
        revoked_at: datetime | None = None,
    ) -> uuid.UUID:
        agreement_id = uuid.uuid4()
        await self.execute(
            "INSERT INTO access_agreements (id, grantee_entity_id, grantor_entity_id, esiid,"
            " meter_number, status, starts_on, ends_on, decided_at, revoked_at)"
            " VALUES (:id, :grantee, :grantor, :esiid, 'M1', :status, :starts, :ends, now(),"
            " :revoked)",
            id=agreement_id,
            grantee=grantee,
            grantor=grantor,
            esiid=esiid,
            status=status,
            starts=starts_on,
            ends=ends_on,
            revoked=revoked_at,
        )
        return agreement_id

    async def _partition(self, table: str, day: date) -> None:
        await self.execute(
            f"SELECT meterhub_ensure_month_partitions('{table}'::regclass, :day, :day)", day=day
        )

    async def intervals(
        self,
        esiid: str,
        day: date,
        kwh: list[str | None] | None = None,
        statuses: str | None = None,
        *,
        channel: int = 4,
        revision_at: datetime | None = None,
    ) -> int:
        """Store a new version of the day (the newest becomes current); returns its number."""
        await self._partition("interval_reads", day)
        kwh = kwh if kwh is not None else sample_kwh(day)
        if statuses is None:
            statuses = "".join("-" if v is None else "A" for v in kwh)
        revision_at = revision_at or datetime.combine(
            day + timedelta(days=1), datetime.min.time(), tzinfo=UTC
        ) + timedelta(hours=11)
        version = (
            await self.execute(
                "SELECT COALESCE(max(version), 0) + 1 FROM interval_reads"
                " WHERE esiid = :esiid AND channel = :channel AND operating_day = :day",
                esiid=esiid,
                channel=channel,
                day=day,
            )
        ).scalar_one()
        await self.execute(
            "UPDATE interval_reads SET is_current = false, superseded_at = :at"
            " WHERE esiid = :esiid AND channel = :channel AND operating_day = :day"
            " AND is_current",
            at=revision_at,
            esiid=esiid,
            channel=channel,
            day=day,
        )
        await self.execute(
            "INSERT INTO interval_reads (esiid, channel, operating_day, version, is_current,"
            " interval_count, kwh, statuses, record_created_at, revision_at, source_file_id,"
            " transaction_id) VALUES (:esiid, :channel, :day, :version, true, :count,"
            " CAST(:kwh AS numeric[]), :statuses, :at, :at, :file, :tx)",
            esiid=esiid,
            channel=channel,
            day=day,
            version=version,
            count=len(kwh),
            kwh=[None if v is None else Decimal(v) for v in kwh],
            statuses=statuses,
            at=revision_at,
            file=uuid.uuid4(),
            tx=f"TX{uuid.uuid4().hex[:12]}",
        )
        return int(version)

    async def days(self, esiid: str, first: date, last: date, **kw: Any) -> None:
        day = first
        while day <= last:
            await self.intervals(esiid, day, **kw)
            day += timedelta(days=1)

    async def daily(
        self, esiid: str, day: date, kwh: str = "21.7500", *, meter: str = "M1"
    ) -> None:
        revision_at = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
        await self.execute(
            "INSERT INTO daily_reads (esiid, meter_number, read_date, version, is_current,"
            " start_reading, end_reading, kwh, record_created_at, revision_at, source_file_id)"
            " VALUES (:esiid, :meter, :day, 1, true, 10000, 10000 + CAST(:kwh AS numeric),"
            " CAST(:kwh AS numeric), :at, :at, :file)",
            esiid=esiid,
            meter=meter,
            day=day,
            kwh=kwh,
            at=revision_at,
            file=uuid.uuid4(),
        )

    async def monthly(
        self, esiid: str, start: date, end: date, kwh: str = "1024.0000", *, meter: str = "M1"
    ) -> None:
        revision_at = datetime.combine(end, datetime.min.time(), tzinfo=UTC)
        await self.execute(
            "INSERT INTO monthly_usage (esiid, meter_number, period_start, version, period_end,"
            " is_current, kwh, demand_kw, record_created_at, revision_at, source_file_id)"
            " VALUES (:esiid, :meter, :start, 1, :end, true, CAST(:kwh AS numeric), 5.2, :at,"
            " :at, :file)",
            esiid=esiid,
            meter=meter,
            start=start,
            end=end,
            kwh=kwh,
            at=revision_at,
            file=uuid.uuid4(),
        )


@pytest.fixture
def usage_settings(
    common_settings: dict[str, object], token_keys: tuple[Path, Path]
) -> UsageApiSettings:
    return UsageApiSettings(
        **common_settings,  # type: ignore[arg-type]
        token_private_key_file=token_keys[0],
        rate_limit_per_second=10_000,
        rate_limit_burst=10_000,
        anonymous_rate_limit_per_second=10_000,
        anonymous_rate_limit_burst=10_000,
    )


AppFactory = Callable[..., FastAPI]


@pytest.fixture
async def app_factory(
    usage_settings: UsageApiSettings, connection: AsyncConnection
) -> AsyncIterator[AppFactory]:
    # SQLAlchemy begins the driver's transaction lazily; begin it now so that what the app
    # does on the raw asyncpg connection (COPY included) is rolled back with the test.
    await connection.execute(text("SELECT 1"))
    made: list[FastAPI] = []

    def make(**overrides: Any) -> FastAPI:
        settings = usage_settings.model_copy(update=overrides)
        app = create_app(settings)
        bind_database_to(app.state.database, connection)
        app.state.today = lambda: TODAY
        made.append(app)
        return app

    yield make
    for app in made:
        await app.state.database.dispose()


@pytest.fixture
def app(app_factory: AppFactory) -> FastAPI:
    return app_factory()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://usage.test"
    ) as c:
        yield c


@pytest.fixture
def data(connection: AsyncConnection) -> Builder:
    return Builder(connection)
