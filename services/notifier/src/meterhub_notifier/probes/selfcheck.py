"""The notifier's own health: the database answers and the outbox is moving."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from meterhub_common.db import Database
from meterhub_notifier.outbox import repository
from meterhub_notifier.settings import NotifierSettings


class _Worker(Protocol):
    last_run_at: datetime | None


async def self_check(
    database: Database, settings: NotifierSettings, now: datetime, worker: _Worker | None
) -> tuple[bool, str]:
    try:
        async with database.sessionmaker() as session:
            health = await repository.health(session)
    except Exception as exc:  # any database failure is the finding
        return False, f"database: {type(exc).__name__}"
    stale = timedelta(minutes=settings.outbox_stale_minutes)
    if health.oldest_pending_at is not None and now - health.oldest_pending_at > stale:
        age = int((now - health.oldest_pending_at).total_seconds() // 60)
        return False, f"outbox: a notice mail has waited {age} minutes (relay unreachable?)"
    if worker is not None:
        quiet = timedelta(seconds=max(120.0, 4 * settings.outbox_poll_seconds))
        if worker.last_run_at is None or now - worker.last_run_at > quiet:
            return False, "outbox: the sender has not run recently"
    return True, "ok"
