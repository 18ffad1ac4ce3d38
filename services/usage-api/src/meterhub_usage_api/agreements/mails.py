"""The words of agreement emails, and the outbox that sends them.

Mails are written in the same transaction as the change they announce and sent after it
commits: right away for the request that caused them, then by the agreement job until the
relay takes them (``mail_max_attempts``). A relay's 5xx is final.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date

from meterhub_common.db import Database
from meterhub_usage_api.agreements import repository
from meterhub_usage_api.mail import MailError, MailSender

log = logging.getLogger(__name__)


def _accept_lines(base_url: str, agreement_id: str) -> str:
    base = base_url.rstrip("/")
    return (
        "To answer, sign in to Meterhub and accept or decline it:\n"
        f"  POST {base}/v1/agreements/{agreement_id}/accept\n"
        f"  POST {base}/v1/agreements/{agreement_id}/decline\n"
        f"  GET  {base}/v1/agreements/{agreement_id}  (details)\n"
    )


def request_mail(
    *,
    base_url: str,
    agreement_id: str,
    requester: str,
    esiid: str,
    meter_number: str,
    months: int,
    pending_days: int,
) -> tuple[str, str]:
    subject = f"{requester} asks to read the smart meter data of ESI ID {esiid}"
    body = (
        f"{requester} has asked Meterhub for access to the energy data of your premise:\n\n"
        f"  ESI ID:        {esiid}\n"
        f"  Meter number:  {meter_number}\n"
        f"  Term:          {months} months from the day you accept\n\n"
        f"If you accept, {requester} can read this meter's 15-minute usage, daily meter reads "
        "and monthly billed usage from the day your account was linked to it (up to 13 "
        f"months back) until the term ends. You can revoke the agreement at any time; access "
        "stops at once.\n\n"
        f"{_accept_lines(base_url, agreement_id)}\n"
        f"If you do nothing, the request expires in {pending_days} days. If you do not know "
        f"{requester}, decline it.\n\nAgreement id: {agreement_id}\n"
    )
    return subject, body


def invitation_mail(
    *,
    base_url: str,
    agreement_id: str,
    inviter: str,
    esiid: str,
    months: int,
    pending_days: int,
) -> tuple[str, str]:
    subject = f"{inviter} invites you to see the energy use of ESI ID {esiid}"
    body = (
        f"{inviter} has invited you (Friends and Family) to see the smart meter data of "
        f"ESI ID {esiid} for {months} months from the day you accept.\n\n"
        f"{_accept_lines(base_url, agreement_id)}\n"
        f"The invitation expires in {pending_days} days.\n\nAgreement id: {agreement_id}\n"
    )
    return subject, body


def decision_mail(
    *, agreement_id: str, decider: str, esiid: str, accepted: bool, ends_on: date | None
) -> tuple[str, str]:
    word = "accepted" if accepted else "declined"
    subject = f"Your request for ESI ID {esiid} was {word}"
    detail = (
        f"You can read its data until {ends_on.isoformat()} (exclusive).\n"
        if accepted and ends_on
        else "You have no access to its data.\n"
    )
    body = f"{decider} has {word} agreement {agreement_id} for ESI ID {esiid}.\n{detail}"
    return subject, body


def revocation_mail(
    *, agreement_id: str, revoker: str, esiid: str, reason: str | None
) -> tuple[str, str]:
    subject = f"The agreement for ESI ID {esiid} was revoked"
    why = f"Reason given: {reason}\n" if reason else ""
    body = (
        f"{revoker} has revoked agreement {agreement_id} for ESI ID {esiid}. Access to its "
        f"data has stopped.\n{why}"
    )
    return subject, body


class MailOutbox:
    def __init__(
        self, database: Database, sender: MailSender, *, max_attempts: int, retry_seconds: float
    ) -> None:
        self.database = database
        self.sender = sender
        self.max_attempts = max_attempts
        self.retry_seconds = retry_seconds

    async def send_due(self, only: Sequence[int] | None = None, *, limit: int = 100) -> int:
        """Send due mails (``only`` these ids, if given); returns how many the relay took."""
        sent = 0
        for _ in range(limit):
            async with self.database.sessionmaker() as session, session.begin():
                mail = await repository.claim_mail(session, only)
                if mail is None:
                    return sent
                try:
                    await self.sender.send(mail["recipient"], mail["subject"], mail["body"])
                except MailError as exc:
                    final = exc.permanent or mail["attempts"] + 1 >= self.max_attempts
                    log.warning(
                        "agreement mail %s to %s not sent (%s): %s",
                        mail["id"],
                        mail["recipient"],
                        "final" if final else "will retry",
                        exc.detail,
                    )
                    await repository.mail_failed(
                        session,
                        mail["id"],
                        exc.detail,
                        final=final,
                        retry_seconds=self.retry_seconds * (2 ** mail["attempts"]),
                    )
                    if only is not None:
                        # The request that queued it goes on; the job retries later.
                        return sent
                    continue
                await repository.mail_sent(session, mail["id"])
                sent += 1
        return sent
