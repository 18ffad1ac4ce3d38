"""All SQL on han_outbox: claim due rows, record each delivery's outcome, purge old rows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class OutboxRow:
    id: int
    idempotency_key: str
    tdsp_duns: str
    operation: str
    payload: dict[str, Any]
    attempts: int


# A claimed row is leased: its next attempt moves past the lease, so another worker (or this
# one after a crash) takes it again only if no outcome was recorded in time. Rows of one ESI ID
# go out in the order they were accepted: a row waits while an earlier one is still pending.
_CLAIM = text(
    """
    UPDATE han_outbox o
    SET attempts = o.attempts + 1,
        next_attempt_at = now() + make_interval(secs => :lease_seconds)
    WHERE o.id IN (
        SELECT c.id FROM han_outbox c
        WHERE c.state = 'pending' AND c.next_attempt_at <= now()
          AND NOT EXISTS (SELECT 1 FROM han_outbox p
                          WHERE p.state = 'pending' AND p.esiid = c.esiid AND p.id < c.id)
        ORDER BY c.id
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    RETURNING o.id, o.idempotency_key, o.tdsp_duns, o.operation, o.payload, o.attempts
    """
)

_DELIVERED = text(
    """
    UPDATE han_outbox SET state = 'delivered', delivered_at = now(), last_error = NULL
    WHERE id = :id AND state = 'pending'
    """
)

_REJECTED = text(
    """
    UPDATE han_outbox SET state = 'rejected', delivered_at = now(), last_error = :error
    WHERE id = :id AND state = 'pending'
    """
)

_RETRY = text(
    """
    UPDATE han_outbox
    SET next_attempt_at = now() + make_interval(secs => :delay_seconds), last_error = :error
    WHERE id = :id AND state = 'pending'
    """
)

_SECONDS_UNTIL_DUE = text(
    """
    SELECT EXTRACT(EPOCH FROM (min(next_attempt_at) - now()))
    FROM han_outbox WHERE state = 'pending'
    """
)

_PURGE = text(
    """
    DELETE FROM han_outbox
    WHERE state <> 'pending' AND delivered_at < now() - make_interval(days => :days)
    """
)


async def claim(session: AsyncSession, *, limit: int, lease_seconds: float) -> list[OutboxRow]:
    rows = (await session.execute(_CLAIM, {"limit": limit, "lease_seconds": lease_seconds})).all()
    claimed = []
    for row in rows:
        payload = json.loads(row[4]) if isinstance(row[4], str) else row[4]
        claimed.append(OutboxRow(row[0], row[1], row[2], row[3], payload, row[5]))
    claimed.sort(key=lambda r: r.id)
    return claimed


async def mark_delivered(session: AsyncSession, row_id: int) -> None:
    await session.execute(_DELIVERED, {"id": row_id})


async def mark_rejected(session: AsyncSession, row_id: int, error: str) -> None:
    await session.execute(_REJECTED, {"id": row_id, "error": error[:2000]})


async def schedule_retry(
    session: AsyncSession, row_id: int, *, delay_seconds: float, error: str
) -> None:
    await session.execute(
        _RETRY, {"id": row_id, "delay_seconds": delay_seconds, "error": error[:2000]}
    )


async def seconds_until_due(session: AsyncSession) -> float | None:
    value = (await session.execute(_SECONDS_UNTIL_DUE)).scalar()
    return None if value is None else float(value)


async def purge(session: AsyncSession, *, days: int) -> int:
    result = await session.execute(_PURGE, {"days": days})
    return int(result.rowcount)  # type: ignore[attr-defined]
