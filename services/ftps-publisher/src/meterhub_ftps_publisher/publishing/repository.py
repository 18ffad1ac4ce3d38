"""All SQL of the publisher, on raw asyncpg connections (COPY and LISTEN need them).

The usage tables (``interval_reads``, ``daily_reads``, ``service_history``,
``usage_change_events``) belong to ingest and are only read here. The REP-of-record rule is
in every query: a record is published to a REP only for an operating day on which the
service history says that REP served the ESI ID.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import asyncpg

CURSOR_NAME = "usage_change_events"

# One row per record: the CSV lines are expanded from it in a worker process (see expand.py).
# The values go out as the array's own text, "{0.1,NULL,...}": array_to_string costs ~10%
# more of the backend's time for the same characters.
# The REP's ESI IDs are sorted first (narrow rows), then each one's records are fetched by
# index in that order (OFFSET 0 keeps the lateral subquery from being flattened into a hash
# join, which scanned the whole day's partition for every REP and filtered every row by the
# file list), so only an incremental sort on the channel is left: no sort of the wide,
# formatted rows, which spilled to disk for a big REP.
INTERVAL_RECORDS_SQL = """
SELECT sh.esiid,
       ir.channel,
       to_char(ir.revision_at AT TIME ZONE 'America/Chicago', 'MM/DD/YYYY HH24:MI:SS'),
       ir.interval_count,
       ir.kwh,
       ir.statuses
FROM (SELECT esiid FROM service_history
       WHERE rep_duns = $1 AND start_date <= $2 AND (end_date IS NULL OR end_date > $2)
       ORDER BY esiid) sh
CROSS JOIN LATERAL (
    SELECT r.channel, r.revision_at, r.interval_count, r.kwh, r.statuses
      FROM interval_reads r
     WHERE r.esiid = sh.esiid
       AND r.operating_day = $2
       AND r.is_current
       AND ($3::uuid[] IS NULL OR r.source_file_id = ANY($3::uuid[]))
    OFFSET 0) ir
ORDER BY sh.esiid, ir.channel DESC
"""

# For the connection streaming one file's records: several files are built at once, one per
# core, so a parallel plan only adds processes; JIT compiles ~15 functions per query for
# expressions this simple (measured no gain).
COPY_SERVER_SETTINGS = {
    "max_parallel_workers_per_gather": "0",
    "jit": "off",
    "application_name": "meterhub-ftps-publisher-worker",
}

# Small enough (one row per meter and day) to format entirely in PostgreSQL.
DAILY_READS_SQL = """
SELECT dr.esiid AS "ESIID",
       to_char(dr.read_date, 'MM/DD/YYYY') AS "USAGE_DATE",
       to_char(dr.revision_at AT TIME ZONE 'America/Chicago', 'MM/DD/YYYY HH24:MI:SS')
           AS "REVISION_DATE",
       dr.start_reading AS "START_READING",
       dr.end_reading AS "END_READING",
       dr.kwh AS "USAGE_KWH",
       dr.meter_number AS "METER_NUMBER"
FROM daily_reads dr
JOIN service_history sh
  ON sh.esiid = dr.esiid
 AND sh.rep_duns = $1
 AND sh.start_date <= $2
 AND (sh.end_date IS NULL OR sh.end_date > $2)
WHERE dr.read_date = $2
  AND dr.is_current
  AND ($3::uuid[] IS NULL OR dr.source_file_id = ANY($3::uuid[]))
ORDER BY dr.esiid, dr.meter_number
"""


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    file_id: uuid.UUID
    rep_duns: str
    operating_day: date
    kind: str
    supplemental: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PublishedRow:
    rep_duns: str
    file_name: str
    kind: str
    source: str
    operating_day: date | None
    supplemental: bool
    record_count: int
    esiid_count: int
    size_bytes: int
    key_fingerprint: str
    last_event_id: int | None
    placed_at: datetime


async def lock_cursor(conn: asyncpg.Connection) -> int | None:
    """Inside a transaction: the cursor, locked; None while another publisher holds it."""
    await conn.execute(
        "INSERT INTO ftps_publisher_cursor (name, last_event_id) VALUES ($1, 0) "
        "ON CONFLICT (name) DO NOTHING",
        CURSOR_NAME,
    )
    value: int | None = await conn.fetchval(
        "SELECT last_event_id FROM ftps_publisher_cursor WHERE name = $1 FOR UPDATE SKIP LOCKED",
        CURSOR_NAME,
    )
    return value


async def advance_cursor(conn: asyncpg.Connection, last_event_id: int) -> None:
    await conn.execute(
        "UPDATE ftps_publisher_cursor SET last_event_id = greatest(last_event_id, $2), "
        "updated_at = now() WHERE name = $1",
        CURSOR_NAME,
        last_event_id,
    )


def _event(row: asyncpg.Record) -> Event:
    return Event(
        row["id"],
        row["file_id"],
        row["rep_duns"],
        row["operating_day"],
        row["kind"],
        row["supplemental"],
        row["created_at"],
    )


async def pending_events(
    conn: asyncpg.Connection, cursor: int, limit: int, lookback_hours: int
) -> list[Event]:
    """Events after the cursor, plus events below it that committed after it moved past
    them (an identity value is taken at insert, visibility comes at commit)."""
    rows = await conn.fetch(
        """
        (SELECT id, file_id, rep_duns, operating_day, kind, supplemental, created_at
           FROM usage_change_events WHERE id > $1 ORDER BY id LIMIT $2)
        UNION ALL
        (SELECT e.id, e.file_id, e.rep_duns, e.operating_day, e.kind, e.supplemental,
                e.created_at
           FROM usage_change_events e
          WHERE e.id <= $1
            AND e.created_at > now() - make_interval(hours => $3)
            AND NOT EXISTS (SELECT 1 FROM ftps_handled_events h WHERE h.event_id = e.id))
        ORDER BY id
        """,
        cursor,
        limit,
        lookback_hours,
    )
    return [_event(r) for r in rows]


async def mark_handled(conn: asyncpg.Connection, event_ids: list[int]) -> None:
    await conn.execute(
        "INSERT INTO ftps_handled_events (event_id) SELECT unnest($1::bigint[]) "
        "ON CONFLICT DO NOTHING",
        event_ids,
    )


async def active_key(conn: asyncpg.Connection, duns: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT fingerprint, armored FROM ftps_rep_keys WHERE rep_duns = $1 "
        "AND status = 'active' AND (expires_at IS NULL OR expires_at > now())",
        duns,
    )
    return row


async def copy_daily_reads(
    conn: asyncpg.Connection,
    duns: str,
    day: date,
    file_ids: list[uuid.UUID] | None,
    output: Path,
) -> None:
    await conn.copy_from_query(
        DAILY_READS_SQL, duns, day, file_ids, output=str(output), format="csv", header=True
    )


async def record_files(conn: asyncpg.Connection, rows: list[PublishedRow]) -> None:
    if not rows:
        return
    # A re-run after a crash places the same names again: the newer placement wins.
    await conn.executemany(
        """
        INSERT INTO ftps_published_files (rep_duns, file_name, kind, source, operating_day,
            supplemental, record_count, esiid_count, size_bytes, key_fingerprint,
            last_event_id, placed_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        ON CONFLICT (rep_duns, file_name) DO UPDATE SET
            record_count = EXCLUDED.record_count, esiid_count = EXCLUDED.esiid_count,
            size_bytes = EXCLUDED.size_bytes, key_fingerprint = EXCLUDED.key_fingerprint,
            placed_at = EXCLUDED.placed_at, purged_at = NULL
        """,
        [
            (
                r.rep_duns,
                r.file_name,
                r.kind,
                r.source,
                r.operating_day,
                r.supplemental,
                r.record_count,
                r.esiid_count,
                r.size_bytes,
                r.key_fingerprint,
                r.last_event_id,
                r.placed_at,
            )
            for r in rows
        ],
    )


async def record_delivery(
    conn: asyncpg.Connection,
    duns: str,
    day: date,
    data_received_at: datetime,
    scheduled_by: datetime,
    delivered_at: datetime | None,
    files: int,
) -> None:
    await conn.execute(
        """
        INSERT INTO ftps_deliveries (rep_duns, operating_day, data_received_at, scheduled_by,
            first_delivered_at, last_delivered_at, files_delivered)
        VALUES ($1, $2, $3, $4, $5, $5, $6)
        ON CONFLICT (rep_duns, operating_day) DO UPDATE SET
            first_delivered_at = coalesce(ftps_deliveries.first_delivered_at,
                                          EXCLUDED.first_delivered_at),
            last_delivered_at = coalesce(EXCLUDED.last_delivered_at,
                                         ftps_deliveries.last_delivered_at),
            files_delivered = ftps_deliveries.files_delivered + EXCLUDED.files_delivered
        """,
        duns,
        day,
        data_received_at,
        scheduled_by,
        delivered_at,
        files,
    )


async def reps_with_data(conn: asyncpg.Connection, day: date, kind: str) -> list[str]:
    """REPs of record for at least one current record of ``kind`` on ``day``."""
    if kind == "interval":
        sql = """
            SELECT DISTINCT sh.rep_duns FROM interval_reads ir
            JOIN service_history sh ON sh.esiid = ir.esiid AND sh.start_date <= $1
             AND (sh.end_date IS NULL OR sh.end_date > $1)
            WHERE ir.operating_day = $1 AND ir.is_current ORDER BY 1"""
    else:
        sql = """
            SELECT DISTINCT sh.rep_duns FROM daily_reads dr
            JOIN service_history sh ON sh.esiid = dr.esiid AND sh.start_date <= $1
             AND (sh.end_date IS NULL OR sh.end_date > $1)
            WHERE dr.read_date = $1 AND dr.is_current ORDER BY 1"""
    return [r[0] for r in await conn.fetch(sql, day)]


async def days_published(conn: asyncpg.Connection, day: date, kind: str) -> set[str]:
    rows = await conn.fetch(
        "SELECT DISTINCT rep_duns FROM ftps_published_files WHERE operating_day = $1 AND kind = $2",
        day,
        kind,
    )
    return {r[0] for r in rows}
