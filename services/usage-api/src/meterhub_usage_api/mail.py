"""SMTP for agreement emails: the stdlib client in a worker thread, STARTTLS when offered.

One message per conversation: agreement mails are few (one per request or decision), so a
connection per mail costs nothing that matters and keeps a failure confined to its mail.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from enum import StrEnum
from pathlib import Path


class StartTls(StrEnum):
    # Upgrade whenever the relay offers it (the relay decides).
    AUTO = "auto"
    # Refuse to send over a relay that does not offer it.
    REQUIRED = "required"
    # Never upgrade (a relay on loopback or inside a trusted mesh).
    OFF = "off"


class MailError(Exception):
    """A mail was not handed over. ``permanent`` when retrying cannot help (a 5xx answer)."""

    def __init__(self, detail: str, *, permanent: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.permanent = permanent


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    starttls: StartTls = StartTls.AUTO
    user: str | None = None
    password: str | None = None
    timeout: float = 10.0
    ca_file: Path | None = None


def ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH, cafile=str(ca_file) if ca_file else None
    )
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def compose(config: SmtpConfig, recipient: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    domain = parseaddr(config.sender)[1].rpartition("@")[2] or "meterhub.invalid"
    message["Message-ID"] = make_msgid(idstring=uuid.uuid4().hex[:12], domain=domain)
    message.set_content(body)
    return message


class MailSender:
    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._context = ssl_context(config.ca_file)

    async def send(self, recipient: str, subject: str, body: str) -> None:
        """Hand one mail to the relay or raise MailError."""
        message = compose(self.config, recipient, subject, body)
        await asyncio.to_thread(self._send_blocking, recipient, message)

    def _send_blocking(self, recipient: str, message: EmailMessage) -> None:
        config = self.config
        try:
            connection = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"cannot connect to {config.host}:{config.port}: {exc}") from exc
        try:
            connection.ehlo()
            if config.starttls is not StartTls.OFF and connection.has_extn("starttls"):
                connection.starttls(context=self._context)
                connection.ehlo()
            elif config.starttls is StartTls.REQUIRED:
                raise MailError(
                    f"{config.host}:{config.port} does not offer STARTTLS and it is required"
                )
            if config.user:
                if not isinstance(connection.sock, ssl.SSLSocket):
                    raise MailError("refusing to send the SMTP password over a plain connection")
                connection.login(config.user, config.password or "")
            sender = parseaddr(config.sender)[1] or config.sender
            connection.send_message(message, from_addr=sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as exc:
            code, answer = next(iter(exc.recipients.values()))
            raise MailError(
                f"{recipient} refused: {code} {answer!r}", permanent=code >= 500
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise MailError(
                f"relay answered {exc.smtp_code} {exc.smtp_error!r}", permanent=exc.smtp_code >= 500
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"SMTP conversation with {config.host} failed: {exc}") from exc
        finally:
            try:
                connection.quit()
            except (OSError, smtplib.SMTPException):
                connection.close()
