"""The durable report worker: claims jobs with FOR UPDATE SKIP LOCKED, woken by LISTEN/NOTIFY.

A claimed job carries a lease that a heartbeat renews; if the process dies the lease lapses
and any replica claims the job again and resumes from the recorded chunks and files. A
failure requeues the job with a growing delay until ``report_max_attempts``; a refusal by
the publisher that cannot change (no active PGP key for the REP, say) fails it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable
from datetime import date

import asyncpg
from fastapi import FastAPI

from meterhub_common.db import Database, libpq_url
from meterhub_usage_api.reports import repository as repo
from meterhub_usage_api.reports.builder import LeaseLost, ReportBuilder
from meterhub_usage_api.reports.delivery import DeliveryError, PublisherClient
from meterhub_usage_api.reports.repository import Job
from meterhub_usage_api.settings import UsageApiSettings

log = logging.getLogger(__name__)

_PURGE_EVERY_SECONDS = 3600.0


class ReportWorker:
    def __init__(
        self,
        database: Database,
        builder: ReportBuilder,
        *,
        database_url: str,
        lease_seconds: float,
        poll_seconds: float,
        max_attempts: int,
        retry_seconds: float,
        retention_days: int = 30,
        enabled: bool = True,
    ) -> None:
        self.database = database
        self.builder = builder
        self.database_url = database_url
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.retry_seconds = retry_seconds
        self.retention_days = retention_days
        self.enabled = enabled
        self._last_purge = 0.0
        self.worker_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- one job ---------------------------------------------------------------------------

    async def claim(self) -> Job | None:
        async with self.database.sessionmaker() as session, session.begin():
            return await repo.claim(session, self.worker_id, self.lease_seconds)

    async def run_once(self) -> bool:
        """Claim one runnable report and work on it; False when there was none."""
        job = await self.claim()
        if job is None:
            return False
        await self.process(job)
        return True

    async def process(self, job: Job) -> None:
        lost = False

        async def heartbeat() -> None:
            nonlocal lost
            while not lost:
                await asyncio.sleep(self.lease_seconds / 3)
                async with self.database.sessionmaker() as session, session.begin():
                    lost = not await repo.renew_lease(
                        session, job.id, self.worker_id, self.lease_seconds
                    )

        beat = asyncio.create_task(heartbeat(), name=f"report-lease-{job.id}")
        try:
            records = await self.builder.run(job, lambda: lost)
            log.info("report %s completed: %d records", job.id, records)
        except LeaseLost:
            log.warning("report %s: lease lost to another worker; leaving it", job.id)
        except DeliveryError as exc:
            await self._requeue(job, exc.detail, permanent=exc.permanent)
        except asyncio.CancelledError:
            # Shutdown or a crash drill: the lease lapses and the job is claimed again.
            raise
        except Exception as exc:
            log.exception("report %s attempt %d failed", job.id, job.attempts)
            await self._requeue(job, f"{type(exc).__name__}: {exc}", permanent=False)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await beat

    async def _requeue(self, job: Job, error: str, *, permanent: bool) -> None:
        final = permanent or job.attempts >= self.max_attempts
        delay = self.retry_seconds * (2 ** (job.attempts - 1))
        async with self.database.sessionmaker() as session, session.begin():
            await repo.requeue(session, job.id, error, final=final, delay=delay)
        if final:
            await asyncio.to_thread(shutil.rmtree, self.builder.folder(job), True)
        log.warning(
            "report %s %s: %s", job.id, "failed" if final else f"retries in {delay:.0f}s", error
        )

    async def purge(self) -> int:
        """Delete reports finished more than ``retention_days`` ago; returns how many."""
        async with self.database.sessionmaker() as session, session.begin():
            purged = await repo.purge_finished(session, self.retention_days)
        if purged:
            log.info(
                "purged %d reports finished over %d days ago", len(purged), self.retention_days
            )
        return len(purged)

    # -- the loop --------------------------------------------------------------------------

    async def _listen(self) -> asyncpg.Connection:
        connection: asyncpg.Connection = await asyncpg.connect(libpq_url(self.database_url))
        await connection.add_listener(repo.NOTIFY_CHANNEL, lambda *_: self._wake.set())
        return connection

    async def _loop(self) -> None:
        listener: asyncpg.Connection | None = None
        try:
            while True:
                try:
                    if listener is None or listener.is_closed():
                        listener = await self._listen()
                    while await self.run_once():
                        pass
                    if time.monotonic() - self._last_purge > _PURGE_EVERY_SECONDS:
                        await self.purge()
                        self._last_purge = time.monotonic()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # The worker must outlive a database restart; the next round tries again.
                    log.exception("report worker round failed")
                    listener = None
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
        finally:
            if listener is not None and not listener.is_closed():
                await listener.close()

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="report-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.builder.publisher.aclose()


def install(app: FastAPI, settings: UsageApiSettings) -> ReportWorker:
    """Put the report worker on ``app.state`` (the lifespan starts it)."""
    today: Callable[[], date] = lambda: app.state.today()  # noqa: E731 (read at each use)
    publisher = PublisherClient(
        settings.ftps_publisher_url,
        app.state.token_issuer,
        ca_file=settings.ca_cert_file,
        timeout=settings.publisher_timeout_seconds,
    )
    builder = ReportBuilder(
        app.state.database,
        publisher,
        spool_dir=settings.report_spool_dir,
        chunk_esiid_days=settings.report_chunk_esiid_days,
        parallel_chunks=settings.report_parallel_chunks,
        today=today,
        sort_memory_mb=settings.report_sort_memory_mb,
    )
    worker = ReportWorker(
        app.state.database,
        builder,
        database_url=settings.database_url,
        lease_seconds=settings.report_lease_seconds,
        poll_seconds=settings.report_poll_seconds,
        max_attempts=settings.report_max_attempts,
        retry_seconds=settings.report_retry_seconds,
        retention_days=settings.report_retention_days,
        enabled=settings.start_report_worker,
    )
    app.state.report_worker = worker
    return worker
