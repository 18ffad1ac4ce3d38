"""A real SMTP server (aiosmtpd) on loopback that keeps what it receives, and market parties."""

from __future__ import annotations

import email
import email.policy
import random
import socket
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from meterhub_common.devtls import ensure_dev_ca, issue_server_cert


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Inbox:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    tls_sessions: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if session.ssl is not None:
            self.tls_sessions += 1
        self.messages.append(message)
        return "250 kept"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


def _start(inbox: Inbox, tls: ssl.SSLContext | None = None) -> Controller:
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=inbox.port,
        tls_context=tls,
        require_starttls=tls is not None,
    )
    controller.start()
    return controller


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox(free_port())
    controller = _start(box)
    yield box
    controller.stop()


@pytest.fixture
def tls_inbox(tmp_path: Path) -> Iterator[tuple[Inbox, Path]]:
    """An SMTP server that requires STARTTLS, with a certificate from a fresh dev CA."""
    ca = ensure_dev_ca(tmp_path / "ca")
    cert = issue_server_cert(ca, tmp_path / "certs", "smtp", hosts=("127.0.0.1", "localhost"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert.cert_path, cert.key_path)
    box = Inbox(free_port())
    controller = _start(box, context)
    yield box, ca.cert_path
    controller.stop()


def random_duns() -> str:
    return f"{random.randrange(10**8, 10**9)}"


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"
