"""Putting notices in the outbox, and the sender that empties it."""

from __future__ import annotations

import asyncio
import logging
import ssl
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.db import Database
from meterhub_common.errors import Conflict, NotFound
from meterhub_common.models.notifier import MailStatus, Notice, NoticeThread, OutboxMail
from meterhub_notifier.clock import Clock
from meterhub_notifier.outbox import repository
from meterhub_notifier.outbox.mail import build_message
from meterhub_notifier.outbox.smtp import Delivery, DeliveryResult, Outcome, SmtpSender
from meterhub_notifier.settings import NotifierSettings

log = logging.getLogger(__name__)


def recipients(settings: NotifierSettings, listservs: list[str]) -> list[tuple[str, str]]:
    """(listserv, address) pairs, each address once even if two lists share it."""
    seen: set[str] = set()
    pairs = []
    for name in listservs:
        for address in settings.listservs.get(name, []):
            if address.lower() not in seen:
                seen.add(address.lower())
                pairs.append((name, address))
    return pairs


async def enqueue_notice(
    session: AsyncSession,
    settings: NotifierSettings,
    notice: Notice,
    thread: NoticeThread,
    *,
    now: datetime,
) -> int:
    """Render the notice once and queue one mail per recipient, in the caller's transaction."""
    pairs = recipients(settings, notice.listservs)
    assert settings.from_address, "settings validation guarantees a from address"
    msgid, raw = build_message(
        notice,
        thread_key=thread.id.hex[:12],
        first_notice_id=f"{thread.code}-01",
        from_address=settings.from_address,
        to_addresses=[address for _, address in pairs],
    )
    await repository.add_mails(
        session,
        [
            OutboxMail(
                id=uuid.uuid4(),
                notice_pk=notice.id,
                listserv=listserv,
                recipient=address,
                message_id=msgid,
                message=raw,
                status=MailStatus.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            for listserv, address in pairs
        ],
    )
    return len(pairs)


def ssl_context_for(settings: NotifierSettings) -> ssl.SSLContext:
    cafile = str(settings.ca_cert_file) if settings.ca_cert_file else None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def sender_for(settings: NotifierSettings) -> SmtpSender:
    assert settings.smtp_host, "settings validation guarantees an SMTP host"
    return SmtpSender(
        host=settings.smtp_host,
        port=settings.smtp_port,
        starttls=settings.smtp_starttls,
        user=settings.smtp_user,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        timeout=settings.smtp_timeout_seconds,
        ssl_context=ssl_context_for(settings),
    )


class OutboxWorker:
    """Sends due mails; many replicas may run one each (rows are claimed, not shared)."""

    def __init__(
        self,
        database: Database,
        settings: NotifierSettings,
        clock: Clock,
        sender: SmtpSender,
    ) -> None:
        self.database = database
        self.settings = settings
        self.clock = clock
        self.sender = sender
        self.wake = asyncio.Event()
        self.last_run_at: datetime | None = None
        # Long enough for every command of a full batch to time out once.
        self.lease = timedelta(
            seconds=settings.smtp_timeout_seconds * (4 * settings.outbox_batch_size + 2)
        )

    async def run_once(self) -> int:
        """Send one batch of due mails; return how many were attempted."""
        now = self.clock.now()
        self.last_run_at = now
        async with self.database.sessionmaker() as session:
            for mail in await repository.expire_leases(session, now):
                log.error(
                    "outbox mail left in flight by a stopped sender is marked unknown",
                    extra={"mail_id": str(mail.id), "recipient": mail.recipient},
                )
            claimed = await repository.claim_due(
                session, now, self.settings.outbox_batch_size, self.lease
            )
            await session.commit()
        if not claimed:
            return 0
        assert self.settings.from_address
        deliveries = [
            Delivery(c.mail_id, self.settings.from_address, c.recipient, c.message) for c in claimed
        ]
        results = await asyncio.to_thread(self.sender.send_batch, deliveries)
        by_id = {r.mail_id: r for r in results}
        finished = self.clock.now()
        async with self.database.sessionmaker() as session:
            for item in claimed:
                await self._record(session, item, by_id[item.mail_id], finished)
            await session.commit()
        return len(claimed)

    async def _record(
        self,
        session: AsyncSession,
        item: repository.Claimed,
        result: DeliveryResult,
        now: datetime,
    ) -> None:
        await repository.finish_attempt(
            session,
            item.attempt_id,
            now=now,
            outcome=result.outcome.value,
            code=result.code,
            detail=result.detail,
        )
        context = {
            "mail_id": str(item.mail_id),
            "recipient": item.recipient,
            "attempt": item.attempt,
            "outcome": result.outcome.value,
            "smtp_code": result.code,
            "detail": result.detail,
        }
        if result.outcome is Outcome.SENT:
            log.info("notice mail delivered", extra=context)
            await repository.set_mail(
                session,
                item.mail_id,
                status=MailStatus.SENT,
                sent_at=now,
                lease_until=None,
                last_error=None,
            )
        elif result.outcome is Outcome.DEFERRED:
            give_up = item.created_at + timedelta(hours=self.settings.outbox_give_up_hours)
            if now >= give_up:
                log.error("notice mail given up after retrying", extra=context)
                status = MailStatus.FAILED
            else:
                log.warning("notice mail deferred; will retry", extra=context)
                status = MailStatus.PENDING
            delay = min(
                self.settings.outbox_retry_seconds * 2 ** (item.attempt - 1),
                self.settings.outbox_max_retry_seconds,
            )
            await repository.set_mail(
                session,
                item.mail_id,
                status=status,
                next_attempt_at=now + timedelta(seconds=delay),
                lease_until=None,
                last_error=result.detail,
            )
        else:
            log.error("notice mail not delivered; needs an operator", extra=context)
            status = MailStatus.FAILED if result.outcome is Outcome.REJECTED else MailStatus.UNKNOWN
            await repository.set_mail(
                session, item.mail_id, status=status, lease_until=None, last_error=result.detail
            )

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                handled = await self.run_once()
            except Exception:  # the loop must outlive a database or relay hiccup
                log.exception("outbox round failed")
                handled = 0
            if handled:
                continue
            self.wake.clear()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())]
            await asyncio.wait(
                waiters,
                timeout=self.settings.outbox_poll_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
            for waiter in waiters:
                waiter.cancel()


async def release(
    session: AsyncSession, mail_id: uuid.UUID, *, now: datetime, by: str
) -> OutboxMail:
    """An operator decides a failed or unknown mail goes out (again)."""
    mail = await repository.get_mail(session, mail_id, lock=True)
    if mail is None:
        raise NotFound(f"outbox mail {mail_id} does not exist")
    if mail.status not in (MailStatus.UNKNOWN, MailStatus.FAILED):
        raise Conflict(
            f"outbox mail {mail_id} is {mail.status}; only failed or unknown mails are released"
        )
    log.warning(
        "operator released an outbox mail for another attempt",
        extra={"mail_id": str(mail_id), "previous_status": mail.status, "by": by},
    )
    mail.status = MailStatus.PENDING
    mail.next_attempt_at = now
    # The retry period (outbox_give_up_hours) runs from the release, not the first queueing.
    mail.created_at = now
    return mail
