"""Work the lifespan runs: the outbox sender and its wake-up, reminders, the probe loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from meterhub_common.db import Database, libpq_url
from meterhub_notifier.clock import Clock
from meterhub_notifier.notices.service import NoticeService
from meterhub_notifier.outbox.repository import CHANNEL
from meterhub_notifier.settings import NotifierSettings

log = logging.getLogger(__name__)

REMINDER_POLL_SECONDS = 30.0


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def listen_for_mail(database_url: str, wake: asyncio.Event, stop: asyncio.Event) -> None:
    """Wake the sender on NOTIFY from any replica's commit; polling covers lost wake-ups."""
    while not stop.is_set():
        connection = None
        try:
            connection = await asyncpg.connect(libpq_url(database_url))
            await connection.add_listener(CHANNEL, lambda *_: wake.set())
            await stop.wait()
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("outbox LISTEN connection failed; retrying", extra={"error": str(exc)})
            await _wait(stop, 5.0)
        finally:
            if connection is not None:
                await connection.close()


async def send_reminders(
    database: Database, settings: NotifierSettings, clock: Clock, on_notices: Callable[[], None]
) -> int:
    async with database.sessionmaker() as session:
        issued = await NoticeService(session, settings, clock).send_due_reminders()
        await session.commit()
    if issued:
        on_notices()
    return len(issued)


async def reminder_loop(
    database: Database,
    settings: NotifierSettings,
    clock: Clock,
    on_notices: Callable[[], None],
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        try:
            await send_reminders(database, settings, clock, on_notices)
        except Exception:  # the next round retries; a reminder is never lost, only late
            log.exception("reminder round failed")
        await _wait(stop, REMINDER_POLL_SECONDS)
