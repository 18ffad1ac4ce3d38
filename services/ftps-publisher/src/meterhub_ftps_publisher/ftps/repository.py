"""SQL the FTPS server runs (through the bridge): accounts, lockout, the retrieval log."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg


async def get_account(pool: asyncpg.Pool, duns: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await pool.fetchrow(
        "SELECT rep_duns, password_hash, allowed_networks, disabled, locked_until, "
        "now() AS db_now FROM ftps_accounts WHERE rep_duns = $1",
        duns,
    )
    return row


async def record_failure(
    pool: asyncpg.Pool, duns: str, window: timedelta, threshold: int, lockout: timedelta
) -> asyncpg.Record | None:
    """Count a failed login; lock the account when ``threshold`` fail within ``window``."""
    row: asyncpg.Record | None = await pool.fetchrow(
        """
        WITH f AS (
            SELECT rep_duns,
                   CASE WHEN first_failed_at IS NULL OR first_failed_at < now() - $2::interval
                        THEN 1 ELSE failed_logins + 1 END AS n,
                   CASE WHEN first_failed_at IS NULL OR first_failed_at < now() - $2::interval
                        THEN now() ELSE first_failed_at END AS since
              FROM ftps_accounts WHERE rep_duns = $1 FOR UPDATE)
        UPDATE ftps_accounts a
           SET failed_logins = CASE WHEN f.n >= $3 THEN 0 ELSE f.n END,
               first_failed_at = CASE WHEN f.n >= $3 THEN NULL ELSE f.since END,
               locked_until = CASE WHEN f.n >= $3 THEN now() + $4::interval
                                   ELSE a.locked_until END
          FROM f WHERE a.rep_duns = f.rep_duns
        RETURNING f.n AS failures, a.locked_until
        """,
        duns,
        window,
        threshold,
        lockout,
    )
    return row


async def record_success(pool: asyncpg.Pool, duns: str) -> None:
    await pool.execute(
        "UPDATE ftps_accounts SET failed_logins = 0, first_failed_at = NULL, "
        "last_login_at = now() WHERE rep_duns = $1",
        duns,
    )


async def record_retrieval(
    pool: asyncpg.Pool,
    duns: str,
    file_name: str,
    bytes_sent: int,
    file_size: int | None,
    completed: bool,
    remote_address: str,
    started_at: datetime,
    finished_at: datetime,
) -> None:
    await pool.execute(
        """
        INSERT INTO ftps_retrievals (rep_duns, file_name, published_file_id, bytes_sent,
            file_size, completed, remote_address, started_at, finished_at)
        VALUES ($1::varchar, $2::text, (SELECT id FROM ftps_published_files
                          WHERE rep_duns = $1::varchar AND file_name = $2::text),
                $3, $4, $5, $6, $7, $8)
        """,
        duns,
        file_name,
        bytes_sent,
        file_size,
        completed,
        remote_address,
        started_at,
        finished_at,
    )
