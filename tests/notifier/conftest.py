"""Fixtures for the notifier: a fake clock, a real SMTP server (aiosmtpd) and the app."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from meterhub_common.devtls import ServerCert, ensure_dev_ca, issue_server_cert, server_ssl_context
from meterhub_devstack.pg import free_port
from meterhub_devstack.testing import bind_database_to
from meterhub_notifier.main import create_app
from meterhub_notifier.settings import NotifierSettings

LISTSERVS = {
    "RMS": ["rms@lists.market.test"],
    "AMWG": ["amwg@lists.market.test", "amwg-archive@lists.market.test"],
}


class FakeClock:
    """Time that moves only when told to; sleeping moves it at once."""

    def __init__(self, start: datetime) -> None:
        self.current = start.astimezone(UTC)

    def now(self) -> datetime:
        return self.current

    def set(self, instant: datetime) -> None:
        self.current = instant.astimezone(UTC)

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)

    async def sleep(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool


@dataclass
class RecordingHandler:
    messages: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(
            Received(
                str(envelope.mail_from),
                list(envelope.rcpt_tos),
                envelope.original_content or b"",
                session.ssl is not None,
            )
        )
        return "250 OK"


@dataclass
class SmtpServer:
    """A real SMTP server on loopback offering STARTTLS, that can be stopped and restarted."""

    port: int
    tls: ssl.SSLContext
    handler: RecordingHandler = field(default_factory=RecordingHandler)
    controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=self.tls,
            require_starttls=False,
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture(scope="session")
def dev_tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ServerCert]:
    folder = tmp_path_factory.mktemp("notifier-tls")
    ca = ensure_dev_ca(folder)
    return ca.cert_path, issue_server_cert(ca, folder, "localhost")


@pytest.fixture
def smtp_server(dev_tls: tuple[Path, ServerCert]) -> Iterator[SmtpServer]:
    server = SmtpServer(port=free_port(), tls=server_ssl_context(dev_tls[1]))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> FakeClock:
    # Tuesday 5 March 2024, 10:00 Central (CST).
    return FakeClock(datetime(2024, 3, 5, 16, 0, tzinfo=UTC))


@pytest.fixture
def settings(
    common_settings: dict[str, object], smtp_server: SmtpServer, dev_tls: tuple[Path, ServerCert]
) -> NotifierSettings:
    return NotifierSettings(
        **common_settings,
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_starttls="required",
        smtp_timeout_seconds=5,
        ca_cert_file=dev_tls[0],
        from_address="notices@meterhub.test",
        listservs=LISTSERVS,
        holidays=["2024-03-29", "2024-11-28", "2024-11-29"],
        probes_enabled=False,
        workers_enabled=False,
        contact="Meterhub Operations, 1-800-555-0100, ops@meterhub.test",
        public_url="https://notices.meterhub.test",
    )


@pytest.fixture
async def app(
    settings: NotifierSettings, clock: FakeClock, connection: AsyncConnection
) -> AsyncIterator[FastAPI]:
    application = create_app(settings, clock=clock)
    bind_database_to(application.state.database, connection)
    yield application
    await application.state.http.aclose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://notifier.test"
    ) as http:
        yield http


@pytest.fixture
def operator(make_token) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {make_token('operator', client_id='ops-console')}"}


@pytest.fixture
def rep(make_token) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"Authorization": f"Bearer {make_token('rep', '111111111')}"}
