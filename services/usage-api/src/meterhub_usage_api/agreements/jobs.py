"""The agreement job: writes ``expired`` for display and retries agreement mails.

Access never depends on it (the access SQL compares dates), so it runs every few minutes; with
several replicas each runs it, which is harmless: the UPDATE and the mail claims are atomic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import date

from fastapi import FastAPI

from meterhub_common.db import Database
from meterhub_usage_api.agreements import service
from meterhub_usage_api.agreements.mails import MailOutbox
from meterhub_usage_api.mail import MailSender, SmtpConfig
from meterhub_usage_api.settings import UsageApiSettings

log = logging.getLogger(__name__)


class AgreementJobs:
    def __init__(
        self,
        database: Database,
        outbox: MailOutbox,
        *,
        today: Callable[[], date],
        pending_days: int,
        interval_seconds: float,
        enabled: bool = True,
    ) -> None:
        self.database = database
        self.outbox = outbox
        self.today = today
        self.pending_days = pending_days
        self.interval_seconds = interval_seconds
        self.enabled = enabled
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> tuple[int, int]:
        """Expire what is due and send due mails; returns (agreements expired, mails sent)."""
        clock = service.Clock(self.today(), self.pending_days)
        async with self.database.sessionmaker() as session, session.begin():
            expired = await service.expire(session, clock)
        sent = await self.outbox.send_due()
        return expired, sent

    async def _loop(self) -> None:
        while True:
            try:
                expired, sent = await self.run_once()
                if expired or sent:
                    log.info("agreement job: %d expired, %d mails sent", expired, sent)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The job must outlive a database restart; the next round tries again.
                log.exception("agreement job round failed")
            await asyncio.sleep(self.interval_seconds)

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="agreement-jobs")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def install(app: FastAPI, settings: UsageApiSettings) -> AgreementJobs:
    """Put the mail outbox and the agreement job on ``app.state`` (the lifespan starts it)."""
    sender = MailSender(
        SmtpConfig(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.mail_from,
            starttls=settings.smtp_starttls,
            user=settings.smtp_user,
            password=settings.smtp_password,
            timeout=settings.smtp_timeout_seconds,
            ca_file=settings.ca_cert_file,
        )
    )
    outbox = MailOutbox(
        app.state.database,
        sender,
        max_attempts=settings.mail_max_attempts,
        retry_seconds=settings.mail_retry_seconds,
    )
    jobs = AgreementJobs(
        app.state.database,
        outbox,
        # Read at each round: tests pin app.state.today after the app is built.
        today=lambda: app.state.today(),
        pending_days=settings.agreement_pending_days,
        interval_seconds=settings.agreement_job_seconds,
        enabled=settings.start_agreement_jobs,
    )
    app.state.agreement_outbox = outbox
    app.state.agreement_jobs = jobs
    return jobs
