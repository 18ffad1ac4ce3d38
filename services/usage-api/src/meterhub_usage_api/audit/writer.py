"""The read audit, written off the request path.

A read appends its entry to an in-memory list (no await, no I/O); a background task copies
the list into ``read_audit`` once a second with one COPY. A process killed without a shutdown
loses at most that second; a clean shutdown flushes. When entries pile up because the database
refuses them, reads are refused (503) rather than served unaudited.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import date, datetime, timedelta
from typing import NamedTuple

from meterhub_common.db import Database
from meterhub_common.errors import ServiceUnavailable
from meterhub_usage_api.database import copy_records, fetch

log = logging.getLogger(__name__)


class AuditEntry(NamedTuple):
    """One audited read; a tuple in COPY column order, so a batch goes to COPY as is."""

    occurred_at: datetime
    entity_id: uuid.UUID
    role: str
    client_id: str
    endpoint: str
    esiid: str | None
    range_start: date | None
    range_end: date | None
    row_count: int
    status_code: int
    request_id: str | None


COLUMNS = AuditEntry._fields

_ENSURE_PARTITIONS = (
    "SELECT meterhub_ensure_month_partitions('read_audit'::regclass, :first_day, :last_day)"
)


class AuditWriter:
    def __init__(
        self, database: Database, *, flush_interval: float = 1.0, max_pending: int = 100_000
    ) -> None:
        self._database = database
        self._flush_interval = flush_interval
        self._max_pending = max_pending
        self._pending: list[AuditEntry] = []
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def record(self, entry: AuditEntry) -> None:
        if len(self._pending) >= self._max_pending:
            raise ServiceUnavailable(
                "the read audit cannot be written at the moment, so the read is refused; "
                "retry shortly"
            )
        self._pending.append(entry)

    async def flush(self) -> int:
        """Write every pending entry; on failure they stay pending for the next flush."""
        async with self._lock:
            batch, self._pending = self._pending, []
            if not batch:
                return 0
            try:
                await self._write(batch)
            except BaseException:
                self._pending[:0] = batch
                raise
            return len(batch)

    async def _write(self, batch: list[AuditEntry]) -> None:
        instants = [entry.occurred_at for entry in batch]
        # A day either side covers partition bounds drawn in any session time zone.
        first_day = min(instants).date() - timedelta(days=1)
        last_day = max(instants).date() + timedelta(days=1)
        async with self._database.sessionmaker() as session:
            await fetch(session, _ENSURE_PARTITIONS, {"first_day": first_day, "last_day": last_day})
            await copy_records(session, "read_audit", COLUMNS, list(batch))
            await session.commit()

    async def _run(self) -> None:
        # Stopped by an event, never cancelled: a cancel landing mid-COPY would drop the
        # batch it had taken, and lost audit entries are the one thing this must not do.
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._flush_interval)
            try:
                await self.flush()
            except Exception:
                log.exception("writing %d read audit entries failed; retrying", self.pending)

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="read-audit-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping.set()
            await self._task
            self._task = None
        try:
            await self.flush()
        except Exception:
            log.exception("%d read audit entries could not be written at shutdown", self.pending)
