"""The outbox worker: delivers accepted requests to TDSP head-ends, retrying with backoff.

Started in the app's lifespan. It wakes on ``NOTIFY han_outbox`` (sent when a request is
accepted) or after ``outbox_poll_seconds``, claims due rows with ``FOR UPDATE SKIP LOCKED``
(so several replicas share the work), calls the head-end and records the outcome. A head-end
outage only delays requests: a failed delivery is retried with exponential backoff, forever,
and every retry carries the same request id, which the head-end uses to act once.

REP calls come first: the worker shares the process (and its one event loop) with the SOAP
endpoint, and every delivery brings the head-end's status reports back to this process, so
while REP calls arrive in bulk the worker delivers a few rows per pass and pauses between
passes; the backlog of a burst drains once the burst is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable

import asyncpg

from meterhub_common.db import Database, libpq_url
from meterhub_common.models.han import OutboxOperation
from meterhub_han.devices import service as devices
from meterhub_han.messages import service as messages
from meterhub_han.outbox import repository as repo
from meterhub_han.outbox.headend import Delivery, HeadEnds, Result
from meterhub_han.outbox.repository import OutboxRow
from meterhub_han.settings import HanSettings

log = logging.getLogger(__name__)

CHANNEL = "han_outbox"
_PURGE_EVERY_SECONDS = 3600.0


def backoff_seconds(attempts: int, settings: HanSettings) -> float:
    """Exponential backoff with jitter (half to all of the step), capped."""
    step = settings.retry_initial_seconds * settings.retry_multiplier ** max(attempts - 1, 0)
    step = min(step, settings.retry_max_seconds)
    return step * random.uniform(0.5, 1.0)  # noqa: S311 (jitter, not a secret)


class OutboxWorker:
    def __init__(
        self,
        database: Database,
        settings: HanSettings,
        headends: HeadEnds,
        busy: Callable[[], bool] | None = None,
    ) -> None:
        self._busy = busy
        self._database = database
        self._settings = settings
        self._headends = headends
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.outbox_concurrency)
        self._pace = asyncio.Lock()
        self._next_paced_start = 0.0
        self._last_purge = 0.0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        listener = asyncio.create_task(self._listen(), name="han-outbox-listen")
        try:
            await self._headends.start()
            while True:
                self._wake.clear()
                paced = self._busy is not None and self._busy()
                limit = (
                    self._settings.outbox_busy_batch if paced else self._settings.outbox_batch_size
                )
                try:
                    claimed = await self.run_once(limit)
                    await self._purge_now_and_then()
                except Exception:
                    log.exception("outbox pass failed; trying again shortly")
                    claimed = 0
                if paced and claimed:
                    await asyncio.sleep(self._settings.outbox_busy_pause_seconds)
                    continue
                if claimed >= limit:
                    continue
                await self._sleep()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _sleep(self) -> None:
        timeout = self._settings.outbox_poll_seconds
        try:
            async with self._database.sessionmaker() as session:
                due = await repo.seconds_until_due(session)
        except Exception:
            log.exception("could not read the outbox's next due time")
            due = None
        if due is not None:
            timeout = min(timeout, max(due, 0.01))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    async def run_once(self, limit: int | None = None) -> int:
        """Claim one batch of due rows and deliver them; returns how many were claimed."""
        async with self._database.sessionmaker() as session:
            rows = await repo.claim(
                session,
                limit=limit or self._settings.outbox_batch_size,
                lease_seconds=self._settings.outbox_lease_seconds,
            )
            await session.commit()
        if rows:
            claimed_at = time.monotonic()
            await asyncio.gather(*(self._deliver(row, claimed_at) for row in rows))
        return len(rows)

    async def _give_way(self, claimed_at: float) -> None:
        """A full batch claimed while the endpoint was quiet may meet the start of a burst
        (the first accepted call's NOTIFY wakes the worker before the burst counts as busy):
        its rows not yet sent then go out at the busy pace instead of all at once, each
        delivery bringing its status reports back into this event loop. Pacing ends at half
        the lease, so no other worker takes a row this one still holds."""
        if self._busy is None:
            return
        interval = self._settings.outbox_busy_pause_seconds / self._settings.outbox_busy_batch
        deadline = claimed_at + self._settings.outbox_lease_seconds / 2
        while self._busy() and time.monotonic() < deadline:
            async with self._pace:
                now = time.monotonic()
                if now >= self._next_paced_start:
                    self._next_paced_start = now + interval
                    return
                await asyncio.sleep(min(self._next_paced_start, deadline) - now)

    async def _deliver(self, row: OutboxRow, claimed_at: float) -> None:
        # The slot also covers recording, which bounds the database connections in use.
        async with self._slots:
            await self._give_way(claimed_at)
            delivery = await self._headends.deliver(row.tdsp_duns, row.operation, row.payload)
            try:
                await self._record(row, delivery)
            except Exception:
                # The lease runs out and the row goes out again; the head-end dedupes it.
                log.exception("could not record the head-end's answer to %s", row.idempotency_key)

    async def _record(self, row: OutboxRow, delivery: Delivery) -> None:
        async with self._database.sessionmaker() as session:
            if delivery.result is Result.RETRY:
                delay = backoff_seconds(row.attempts, self._settings)
                log.warning(
                    "head-end delivery failed; retrying",
                    extra={
                        "han_request_id": row.idempotency_key,
                        "tdsp_duns": row.tdsp_duns,
                        "attempts": row.attempts,
                        "retry_in_seconds": round(delay, 2),
                        "error": delivery.detail,
                    },
                )
                await repo.schedule_retry(
                    session, row.id, delay_seconds=delay, error=delivery.detail or ""
                )
            else:
                accepted = delivery.result is Result.ACCEPTED
                if accepted:
                    await repo.mark_delivered(session, row.id)
                else:
                    await repo.mark_rejected(session, row.id, delivery.detail or "")
                operation = OutboxOperation(row.operation)
                record = (
                    devices.record_headend_answer
                    if operation in (OutboxOperation.ADD_DEVICE, OutboxOperation.REMOVE_DEVICE)
                    else messages.record_headend_answer
                )
                await record(
                    session, row.idempotency_key, accepted=accepted, reason=delivery.detail
                )
            await session.commit()

    async def _purge_now_and_then(self) -> None:
        now = time.monotonic()
        if now - self._last_purge < _PURGE_EVERY_SECONDS:
            return
        self._last_purge = now
        async with self._database.sessionmaker() as session:
            purged = await repo.purge(session, days=self._settings.outbox_retention_days)
            await session.commit()
        if purged:
            log.info("purged %d delivered outbox rows", purged)

    async def _listen(self) -> None:
        """Keep a LISTEN connection; without it the worker still polls."""
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(libpq_url(self._settings.database_url))
                await connection.add_listener(CHANNEL, lambda *_: self._wake.set())
                while not connection.is_closed():
                    await asyncio.sleep(5)
                    await connection.execute("SELECT 1")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox LISTEN connection lost (%s); polling meanwhile", exc)
            finally:
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=2)
            await asyncio.sleep(self._settings.outbox_poll_seconds)
