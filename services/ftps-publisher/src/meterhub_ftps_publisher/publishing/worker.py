"""Background loops started by the lifespan: event-driven publishing and the nightly sweep.

Ingest runs ``NOTIFY usage_changed`` in its loading transaction; the listener only wakes the
loop early. Polling every few seconds still finds everything, so a lost notification or a
dropped listener connection delays files by one poll interval at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, time, timedelta

import asyncpg

from meterhub_common.domain.operating_day import CENTRAL, today_central
from meterhub_ftps_publisher.publishing.service import Publisher

log = logging.getLogger(__name__)

CHANNEL = "usage_changed"


async def publish_loop(publisher: Publisher, listen_url: str, poll_seconds: float) -> None:
    wake = asyncio.Event()
    listener: asyncpg.Connection | None = None

    def notified(*_: object) -> None:
        wake.set()

    try:
        while True:
            if listener is None or listener.is_closed():
                try:
                    listener = await asyncpg.connect(listen_url)
                    await listener.add_listener(CHANNEL, notified)
                except (OSError, asyncpg.PostgresError) as exc:
                    log.warning("cannot LISTEN %s (%s); polling only", CHANNEL, exc)
                    listener = None
            try:
                await publisher.run_until_idle()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The cursor did not move: the same events are tried again next round.
                log.exception("publishing run failed; retrying after the poll interval")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=poll_seconds)
            wake.clear()
    finally:
        if listener is not None and not listener.is_closed():
            await listener.close()


def next_run(now: datetime, at: time) -> datetime:
    """The next ``at`` in Central time after ``now`` (aware), as UTC."""
    local = now.astimezone(CENTRAL)
    candidate = datetime.combine(local.date(), at, tzinfo=CENTRAL)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=CENTRAL)
    return candidate.astimezone(UTC)


async def nightly_sweep_loop(publisher: Publisher, at: time) -> None:
    while True:
        now = datetime.now(UTC)
        wait = (next_run(now, at) - now).total_seconds()
        await asyncio.sleep(max(wait, 1.0))
        for _attempt in range(30):
            try:
                if await publisher.sweep(today_central()) is not None:
                    break
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("nightly sweep failed; retrying in a minute")
            # None: a publishing run holds the cursor; try again shortly.
            await asyncio.sleep(60)
