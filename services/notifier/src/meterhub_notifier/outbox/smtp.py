"""One SMTP conversation per batch, with the stdlib client (run in a worker thread).

The conversation is driven command by command, not with ``sendmail``, to know exactly when a
message may have been accepted. Until the final ``.`` has been handed to the socket, the relay
cannot have taken the message and a failure is safe to retry. Once it has, a broken connection
leaves the outcome unknown, and such a mail is never retried automatically: a notice reaches a
listserv twice only if an operator says so.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from enum import StrEnum

from meterhub_notifier.settings import StartTls

log = logging.getLogger(__name__)

_LEADING_DOT = re.compile(rb"(?m)^\.")


class Outcome(StrEnum):
    SENT = "sent"
    DEFERRED = "deferred"
    REJECTED = "rejected"
    AMBIGUOUS = "ambiguous"


@dataclass(frozen=True)
class Delivery:
    mail_id: uuid.UUID
    sender: str
    recipient: str
    message: bytes


@dataclass(frozen=True)
class DeliveryResult:
    mail_id: uuid.UUID
    outcome: Outcome
    code: int | None
    detail: str


class SmtpSetupError(Exception):
    """The relay cannot be used as configured (no STARTTLS where required, login refused)."""


def _by_code(code: int) -> Outcome:
    if 200 <= code < 300:
        return Outcome.SENT
    return Outcome.REJECTED if code >= 500 else Outcome.DEFERRED


def _text(response: bytes | str) -> str:
    return response.decode("utf-8", "replace") if isinstance(response, bytes) else response


class SmtpSender:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        starttls: StartTls,
        user: str | None,
        password: str | None,
        timeout: float,
        ssl_context: ssl.SSLContext,
    ) -> None:
        self.host = host
        self.port = port
        self.starttls = starttls
        self.user = user
        self.password = password
        self.timeout = timeout
        self.ssl_context = ssl_context

    def send_batch(self, deliveries: list[Delivery]) -> list[DeliveryResult]:
        """Deliver each message to its one recipient; blocking, call it in a thread."""
        if not deliveries:
            return []
        try:
            conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as exc:
            detail = f"cannot connect to {self.host}:{self.port}: {exc}"
            return [DeliveryResult(d.mail_id, Outcome.DEFERRED, None, detail) for d in deliveries]
        results: list[DeliveryResult] = []
        try:
            try:
                self._prepare(conn)
            except (OSError, smtplib.SMTPException, SmtpSetupError) as exc:
                detail = f"SMTP session setup with {self.host}:{self.port} failed: {exc}"
                return [
                    DeliveryResult(d.mail_id, Outcome.DEFERRED, None, detail) for d in deliveries
                ]
            for position, delivery in enumerate(deliveries):
                result = self._send_one(conn, delivery)
                results.append(result)
                if result.outcome is Outcome.AMBIGUOUS or conn.sock is None:
                    # The connection is gone; the rest wait for the next round.
                    detail = "not attempted: the SMTP connection was lost on an earlier message"
                    results += [
                        DeliveryResult(d.mail_id, Outcome.DEFERRED, None, detail)
                        for d in deliveries[position + 1 :]
                    ]
                    break
            return results
        finally:
            try:
                conn.quit()
            except (OSError, smtplib.SMTPException):
                conn.close()

    def _prepare(self, conn: smtplib.SMTP) -> None:
        conn.ehlo()
        if self.starttls is not StartTls.OFF and conn.has_extn("starttls"):
            conn.starttls(context=self.ssl_context)
            conn.ehlo()
        elif self.starttls is StartTls.REQUIRED:
            raise SmtpSetupError("the relay does not offer STARTTLS and it is required")
        if self.user:
            if not isinstance(conn.sock, ssl.SSLSocket):
                raise SmtpSetupError("refusing to send the SMTP password over a plain connection")
            conn.login(self.user, self.password or "")

    def _send_one(self, conn: smtplib.SMTP, delivery: Delivery) -> DeliveryResult:
        mail_id = delivery.mail_id
        try:
            for command in ("mail", "rcpt", "data"):
                if command == "mail":
                    code, response = conn.mail(delivery.sender)
                    accepted = code == 250
                elif command == "rcpt":
                    code, response = conn.rcpt(delivery.recipient)
                    accepted = code in (250, 251)
                else:
                    code, response = conn.docmd("DATA")
                    accepted = code == 354
                if not accepted:
                    self._reset(conn)
                    detail = f"{command.upper()} answered {code} {_text(response)}"
                    return DeliveryResult(mail_id, _by_code(code), code, detail)
            payload = _LEADING_DOT.sub(b"..", delivery.message)
            if not payload.endswith(b"\r\n"):
                payload += b"\r\n"
            conn.send(payload + b".\r\n")
        except (OSError, smtplib.SMTPException) as exc:
            # sendall did not finish, so the terminating dot never left: nothing was accepted.
            return DeliveryResult(mail_id, Outcome.DEFERRED, None, f"before end of data: {exc}")
        try:
            code, response = conn.getreply()
        except (OSError, smtplib.SMTPException) as exc:
            log.error(
                "connection lost after the message was handed over; it may have been accepted",
                extra={"mail_id": str(mail_id), "recipient": delivery.recipient},
            )
            return DeliveryResult(mail_id, Outcome.AMBIGUOUS, None, f"after end of data: {exc}")
        outcome = _by_code(code)
        if outcome is not Outcome.SENT:
            self._reset(conn)
        return DeliveryResult(mail_id, outcome, code, f"{code} {_text(response)}")

    @staticmethod
    def _reset(conn: smtplib.SMTP) -> None:
        try:
            conn.rset()
        except (OSError, smtplib.SMTPException):
            conn.close()
