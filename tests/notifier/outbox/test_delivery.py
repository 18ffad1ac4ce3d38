"""Real SMTP conversations (aiosmtpd, STARTTLS): headers, layout, and exactly-once delivery."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator
from email.message import EmailMessage

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.models.notifier import OutboxAttempt, OutboxMail
from meterhub_notifier.outbox.service import OutboxWorker, sender_for
from meterhub_notifier.settings import NotifierSettings, StartTls

from ..conftest import LISTSERVS, FakeClock, SmtpServer

ADDRESSES = [a for addresses in LISTSERVS.values() for a in addresses]
LAYOUT = [
    "NOTICE DATE:",
    "NOTICE TYPE:",
    "SHORT DESCRIPTION:",
    "INTENDED AUDIENCE:",
    "DAY(S) AFFECTED:",
    "LONG DESCRIPTION:",
    "ACTION REQUIRED:",
    "ADDITIONAL INFORMATION:",
    "CONTACT:",
]

PLANNED = {
    "notice_type": "planned_outage",
    "short_description": "Saturday maintenance of the FTPS site and the API",
    "long_description": "Database upgrade.\nFTPS logins and API reads are refused meanwhile.",
    "affected_services": ["FTPS", "API"],
    "starts_at": "2024-03-09T02:00:00",
    "ends_at": "2024-03-09T06:00:00",
    "action_required": "Retry FTPS pulls after 6:00 AM.",
    "additional_information": "See the Meterhub status page.",
}


def worker_for(
    app: FastAPI, clock: FakeClock, settings: NotifierSettings | None = None
) -> OutboxWorker:
    chosen = settings or app.state.settings
    return OutboxWorker(app.state.database, chosen, clock, sender_for(chosen))


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


async def test_notice_mail_headers_layout_and_id(
    app: FastAPI,
    client: httpx.AsyncClient,
    operator: dict[str, str],
    smtp_server: SmtpServer,
    clock: FakeClock,
) -> None:
    created = await client.post("/v1/notices", json=PLANNED, headers=operator)
    assert created.status_code == 201, created.text
    assert await worker_for(app, clock).run_once() == 3

    received = smtp_server.handler.messages
    assert sorted(r.rcpt_tos[0] for r in received) == sorted(ADDRESSES)
    assert all(len(r.rcpt_tos) == 1 and r.tls for r in received)  # STARTTLS was used
    assert {r.mail_from for r in received} == {"notices@meterhub.test"}
    message = parse(received[0].content)
    assert message["From"] == "notices@meterhub.test"
    assert [a.strip() for a in message["To"].split(",")] == ADDRESSES
    assert message["Subject"] == (
        "M-A030524-01 Planned Outage: Saturday maintenance of the FTPS site and the API"
    )
    assert message["X-Meterhub-Notice-Id"] == "M-A030524-01"
    first_id = message["Message-ID"]
    assert first_id.startswith("<M-A030524-01.") and first_id.endswith("@meterhub.test>")
    # Every recipient got the very same message.
    assert len({parse(r.content)["Message-ID"] for r in received}) == 1

    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    positions = [text.index(label) for label in LAYOUT]
    assert positions == sorted(positions)
    assert text.splitlines()[:5] == [
        "NOTICE DATE: March 5, 2024",
        "NOTICE TYPE: M-A030524-01 Planned Outage",
        "SHORT DESCRIPTION: Saturday maintenance of the FTPS site and the API",
        "INTENDED AUDIENCE: Retail Market Participants (REPs, TDSPs, CSPs) and ERCOT",
        "DAY(S) AFFECTED: Saturday, March 9, 2024, 2:00 AM CST to 6:00 AM CST",
    ]
    assert "LONG DESCRIPTION: Affected services: FTPS, API.\nDatabase upgrade.\n" in text
    assert text.rstrip().endswith("CONTACT: Meterhub Operations, 1-800-555-0100, ops@meterhub.test")
    html = message.get_body(("html",)).get_content()
    html_positions = [html.index(label) for label in LAYOUT]
    assert html_positions == sorted(html_positions)
    assert "M-A030524-01 Planned Outage" in html

    # A follow-up threads under the first notice; a cancellation puts its line first.
    await client.patch(
        "/v1/notices/M-A030524-01", json={"long_description": "Longer."}, headers=operator
    )
    await client.post("/v1/notices/M-A030524-01/cancel", headers=operator)
    smtp_server.handler.messages.clear()
    assert await worker_for(app, clock).run_once() == 6
    by_id: dict[str, EmailMessage] = {}
    for r in smtp_server.handler.messages:
        m = parse(r.content)
        by_id[m["X-Meterhub-Notice-Id"]] = m
    update, cancel = by_id["M-A030524-02"], by_id["M-A030524-03"]
    assert update["In-Reply-To"] == first_id and update["References"] == first_id
    assert update["Subject"].startswith("M-A030524-02 Update: ")
    cancel_text = cancel.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert cancel_text.splitlines()[0] == (
        "CANCELLATION: Meterhub is cancelling the following notice: M-A030524-01. Disregard it."
    )
    assert "NOTICE TYPE: M-A030524-03 Cancellation" in cancel_text
    assert cancel["Subject"].startswith("M-A030524-03 Cancellation: ")


async def test_outbox_sends_once_after_an_smtp_outage(
    app: FastAPI,
    client: httpx.AsyncClient,
    operator: dict[str, str],
    smtp_server: SmtpServer,
    clock: FakeClock,
    session: AsyncSession,
) -> None:
    smtp_server.stop()
    await client.post("/v1/notices", json=PLANNED, headers=operator)
    worker = worker_for(app, clock)
    assert await worker.run_once() == 3
    mails = (await session.execute(select(OutboxMail))).scalars().all()
    assert {(m.status, m.attempts) for m in mails} == {("pending", 1)}
    # Not due yet: the retry waits (15 s, then 30 s ...).
    assert await worker.run_once() == 0
    clock.advance(seconds=16)
    assert await worker.run_once() == 3  # still down: second deferral

    smtp_server.start()
    clock.advance(seconds=31)
    assert await worker.run_once() == 3
    for _ in range(3):
        clock.advance(minutes=30)
        assert await worker.run_once() == 0
    received = smtp_server.handler.messages
    assert sorted(r.rcpt_tos[0] for r in received) == sorted(ADDRESSES)  # once each

    outbox = (await client.get("/v1/outbox", headers=operator)).json()
    assert {m["status"] for m in outbox} == {"sent"}
    for mail in outbox:
        assert [a["outcome"] for a in mail["history"]] == ["deferred", "deferred", "sent"]
        assert "cannot connect" in mail["history"][0]["detail"]
        assert mail["history"][2]["smtp_code"] == 250
    attempts = (await session.execute(select(OutboxAttempt))).scalars().all()
    assert len(attempts) == 9


class DroppingServer:
    """Speaks SMTP, takes the message, then drops the connection instead of answering."""

    def __init__(self) -> None:
        self.messages = 0
        self.answer = False

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 dropper ESMTP\r\n")
        while line := await reader.readline():
            command = line.strip().upper()
            if command.startswith((b"EHLO", b"HELO")):
                writer.write(b"250-dropper\r\n250 8BITMIME\r\n")
            elif command.startswith((b"MAIL", b"RCPT", b"RSET", b"NOOP")):
                writer.write(b"250 OK\r\n")
            elif command == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                while await reader.readline() != b".\r\n":
                    pass
                self.messages += 1
                if not self.answer:
                    writer.close()
                    return
                writer.write(b"250 queued\r\n")
            elif command == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            await writer.drain()
        writer.close()


@pytest.fixture
async def dropping_server() -> AsyncIterator[tuple[DroppingServer, int]]:
    handler = DroppingServer()
    server = await asyncio.start_server(handler.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield handler, port
    server.close()
    await server.wait_closed()


async def test_connection_lost_after_data_is_never_resent_automatically(
    app: FastAPI,
    client: httpx.AsyncClient,
    operator: dict[str, str],
    clock: FakeClock,
    dropping_server: tuple[DroppingServer, int],
) -> None:
    handler, port = dropping_server
    settings = app.state.settings.model_copy(
        update={
            "smtp_port": port,
            "smtp_starttls": StartTls.AUTO,
            "listservs": {"RMS": ["rms@x.test"]},
        }
    )
    app.state.settings = settings
    await client.post("/v1/notices", json=PLANNED, headers=operator)
    worker = worker_for(app, clock, settings)
    assert await worker.run_once() == 1
    assert handler.messages == 1
    for _ in range(3):
        clock.advance(hours=1)
        assert await worker.run_once() == 0
    assert handler.messages == 1  # the relay may have it: never sent twice on our own
    outbox = (await client.get("/v1/outbox?status=unknown", headers=operator)).json()
    assert len(outbox) == 1
    assert outbox[0]["history"][0]["outcome"] == "ambiguous"

    # An operator who checked with the relay's log releases it; it goes out once more.
    handler.answer = True
    released = await client.post(f"/v1/outbox/{outbox[0]['id']}/release", headers=operator)
    assert released.json()["status"] == "pending"
    assert await worker.run_once() == 1
    assert handler.messages == 2
    again = await client.post(f"/v1/outbox/{outbox[0]['id']}/release", headers=operator)
    assert again.status_code == 409


async def test_starttls_required_but_not_offered_defers(
    app: FastAPI,
    client: httpx.AsyncClient,
    operator: dict[str, str],
    clock: FakeClock,
    dropping_server: tuple[DroppingServer, int],
    session: AsyncSession,
) -> None:
    handler, port = dropping_server
    settings = app.state.settings.model_copy(update={"smtp_port": port})
    await client.post("/v1/notices", json=PLANNED, headers=operator)
    assert await worker_for(app, clock, settings).run_once() == 3
    assert handler.messages == 0
    mail = (await session.execute(select(OutboxMail))).scalars().first()
    assert mail is not None and mail.status == "pending"
    assert "does not offer STARTTLS" in (mail.last_error or "")
