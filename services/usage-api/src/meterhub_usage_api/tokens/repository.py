"""Sign-in lookups and the failure counters behind the brute-force lockout."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True, slots=True)
class Credential:
    entity_id: uuid.UUID
    role: str
    duns: str | None
    secret_hash: str
    disabled: bool


async def api_client(session: AsyncSession, client_id: str) -> Credential | None:
    row = (
        await session.execute(
            text(
                "SELECT e.id, e.role, e.duns, c.secret_hash, c.disabled_at IS NOT NULL"
                " FROM api_clients c JOIN entities e ON e.id = c.entity_id"
                " WHERE c.client_id = :client_id"
            ),
            {"client_id": client_id},
        )
    ).first()
    return None if row is None else Credential(*row)


async def customer_account(session: AsyncSession, username: str) -> Credential | None:
    row = (
        await session.execute(
            text(
                "SELECT e.id, e.role, e.duns, a.password_hash, false"
                " FROM customer_accounts a JOIN entities e ON e.id = a.entity_id"
                " WHERE a.username = :username"
            ),
            {"username": username},
        )
    ).first()
    return None if row is None else Credential(*row)


async def locked_until(session: AsyncSession, subject: str) -> datetime | None:
    value: datetime | None = (
        await session.execute(
            text(
                "SELECT locked_until FROM token_failures"
                " WHERE subject = :subject AND locked_until > clock_timestamp()"
            ),
            {"subject": subject},
        )
    ).scalar_one_or_none()
    return value


# A new window starts when the last one is over or a lockout has run out. The wall clock,
# not now(): the transaction start would freeze time inside a long transaction.
_RESET = (
    "(f.window_started_at <= clock_timestamp() - make_interval(secs => :window)"
    " OR f.locked_until <= clock_timestamp())"
)
_FAILURES = f"CASE WHEN {_RESET} THEN 1 ELSE f.failures + 1 END"


async def record_failure(
    session: AsyncSession, subject: str, *, max_failures: int, window: int, lockout: int
) -> datetime | None:
    """Count a failed attempt; returns the lockout's end when this one starts a lockout."""
    # Rows nobody has failed with for a while carry no state; keep the table small even when
    # someone tries random client ids.
    await session.execute(
        text(
            "DELETE FROM token_failures"
            " WHERE last_failure_at < clock_timestamp() - make_interval(secs => :keep)"
            " AND (locked_until IS NULL OR locked_until < clock_timestamp())"
        ),
        {"keep": max(window, lockout)},
    )
    value: datetime | None = (
        await session.execute(
            text(
                "INSERT INTO token_failures AS f"  # noqa: S608 (fixed fragments)
                " (subject, failures, window_started_at, last_failure_at, locked_until)"
                " VALUES (:subject, 1, clock_timestamp(), clock_timestamp(),"
                "   CASE WHEN :max_failures <= 1"
                "        THEN clock_timestamp() + make_interval(secs => :lockout) END)"
                " ON CONFLICT (subject) DO UPDATE SET"
                f"   failures = {_FAILURES},"
                f"   window_started_at = CASE WHEN {_RESET} THEN clock_timestamp()"
                "                        ELSE f.window_started_at END,"
                "   last_failure_at = clock_timestamp(),"
                f"   locked_until = CASE WHEN {_FAILURES} >= :max_failures"
                "                   THEN clock_timestamp() + make_interval(secs => :lockout) END"
                " RETURNING locked_until"
            ),
            {
                "subject": subject,
                "max_failures": max_failures,
                "window": window,
                "lockout": lockout,
            },
        )
    ).scalar_one()
    return value


async def clear_failures(session: AsyncSession, subject: str) -> None:
    await session.execute(
        text("DELETE FROM token_failures WHERE subject = :subject"), {"subject": subject}
    )
