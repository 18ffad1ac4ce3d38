"""All SQL of the report job table: requests, their ESI IDs, chunk progress and files."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_usage_api.database import copy_records

NOTIFY_CHANNEL = "usage_reports"


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed report: what to build, for whom."""

    id: uuid.UUID
    requester_entity_id: uuid.UUID
    requester_role: str
    requester_duns: str
    report_type: str
    start_date: date
    end_date: date
    versions: str
    file_format: str
    attempts: int
    created_at: datetime
    scoped: bool
    chunk_count: int | None


async def insert_report(
    session: AsyncSession,
    *,
    report_id: uuid.UUID,
    requester_entity_id: uuid.UUID,
    requester_role: str,
    requester_duns: str,
    client_id: str,
    report_type: str,
    start_date: date,
    end_date: date,
    versions: str,
    file_format: str,
    esiids: Sequence[str],
) -> None:
    await session.execute(
        text(
            "INSERT INTO report_requests (id, requester_entity_id, requester_role,"
            " requester_duns, client_id, report_type, start_date, end_date, versions,"
            " file_format, esiid_count)"
            " VALUES (:id, :entity, :role, :duns, :client, :type, :start, :end, :versions,"
            " :format, :count)"
        ),
        {
            "id": report_id,
            "entity": requester_entity_id,
            "role": requester_role,
            "duns": requester_duns,
            "client": client_id,
            "type": report_type,
            "start": start_date,
            "end": end_date,
            "versions": versions,
            "format": file_format,
            "count": len(esiids),
        },
    )
    await copy_records(
        session,
        "report_esiids",
        ("report_id", "position", "esiid"),
        [(report_id, position, esiid) for position, esiid in enumerate(esiids)],
    )
    # Delivered at commit: a worker that is listening starts at once, others poll.
    await session.execute(
        text("SELECT pg_notify(:channel, :id)"), {"channel": NOTIFY_CHANNEL, "id": str(report_id)}
    )


async def report(session: AsyncSession, report_id: uuid.UUID) -> RowMapping | None:
    row = await session.execute(
        text("SELECT * FROM report_requests WHERE id = :id"), {"id": report_id}
    )
    return row.mappings().first()


async def reports_of(
    session: AsyncSession, entity_id: uuid.UUID | None, limit: int
) -> list[RowMapping]:
    where = "" if entity_id is None else "WHERE requester_entity_id = :entity"
    rows = await session.execute(
        text(
            f"SELECT * FROM report_requests {where}"  # noqa: S608 (fixed fragments)
            " ORDER BY created_at DESC, id LIMIT :limit"
        ),
        {"entity": entity_id, "limit": limit},
    )
    return list(rows.mappings())


async def excluded_esiids(session: AsyncSession, report_id: uuid.UUID) -> list[str]:
    rows = await session.scalars(
        text(
            "SELECT esiid FROM report_esiids WHERE report_id = :id AND included = false"
            " ORDER BY position"
        ),
        {"id": report_id},
    )
    return list(rows)


async def chunk_progress(session: AsyncSession, report_id: uuid.UUID) -> tuple[int, int]:
    row = (
        await session.execute(
            text(
                "SELECT count(*) AS total, count(done_at) AS done FROM report_chunks"
                " WHERE report_id = :id"
            ),
            {"id": report_id},
        )
    ).one()
    return int(row.total), int(row.done)


async def files(session: AsyncSession, report_id: uuid.UUID) -> list[RowMapping]:
    rows = await session.execute(
        text(
            "SELECT file_no, file_name, record_count, byte_count, placed_name, delivery_ref,"
            " delivered_at FROM report_files WHERE report_id = :id ORDER BY file_no"
        ),
        {"id": report_id},
    )
    return list(rows.mappings())


# -- the job ------------------------------------------------------------------------------


async def claim(session: AsyncSession, worker: str, lease_seconds: float) -> Job | None:
    """Take the oldest runnable report: queued and due, or running with a lapsed lease."""
    row = (
        await session.execute(
            text(
                "UPDATE report_requests r SET status = 'running', attempts = r.attempts + 1,"
                " worker = :worker,"
                " lease_until = clock_timestamp() + make_interval(secs => :lease),"
                " started_at = COALESCE(r.started_at, clock_timestamp())"
                " WHERE r.id = ("
                "   SELECT id FROM report_requests"
                "   WHERE (status = 'queued' AND not_before <= clock_timestamp())"
                "      OR (status = 'running' AND lease_until < clock_timestamp())"
                "   ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)"
                " RETURNING r.id, r.requester_entity_id, r.requester_role, r.requester_duns,"
                " r.report_type, r.start_date, r.end_date, r.versions, r.file_format, r.attempts,"
                " r.created_at, r.scoped_at IS NOT NULL AS scoped, r.chunk_count"
            ),
            {"worker": worker, "lease": lease_seconds},
        )
    ).first()
    if row is None:
        return None
    return Job(**row._asdict())


async def renew_lease(
    session: AsyncSession, report_id: uuid.UUID, worker: str, lease_seconds: float
) -> bool:
    """Extend our lease; False if another worker has taken the job (ours had lapsed)."""
    result = await session.execute(
        text(
            "UPDATE report_requests SET lease_until = clock_timestamp()"
            " + make_interval(secs => :lease) WHERE id = :id AND worker = :worker"
            " AND status = 'running'"
        ),
        {"id": report_id, "worker": worker, "lease": lease_seconds},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def esiid_count(session: AsyncSession, report_id: uuid.UUID) -> int:
    count = await session.scalar(
        text("SELECT esiid_count FROM report_requests WHERE id = :id"), {"id": report_id}
    )
    return int(count or 0)


async def all_esiids(session: AsyncSession, report_id: uuid.UUID) -> list[str]:
    rows = await session.scalars(
        text("SELECT esiid FROM report_esiids WHERE report_id = :id ORDER BY position"),
        {"id": report_id},
    )
    return list(rows)


async def scope(session: AsyncSession, sql: str, params: dict[str, Any]) -> tuple[int, int]:
    await session.execute(text(sql), params)
    row = (
        await session.execute(
            text(
                "SELECT count(*) FILTER (WHERE included) AS included,"
                " count(*) FILTER (WHERE NOT included) AS excluded"
                " FROM report_esiids WHERE report_id = :report_id"
            ),
            {"report_id": params["report_id"]},
        )
    ).one()
    await session.execute(
        text(
            "UPDATE report_requests SET scoped_at = clock_timestamp(), included_count = :i,"
            " excluded_count = :x WHERE id = :report_id"
        ),
        {"report_id": params["report_id"], "i": row.included, "x": row.excluded},
    )
    return int(row.included), int(row.excluded)


async def plan_chunks(
    session: AsyncSession, report_id: uuid.UUID, bounds: Sequence[tuple[int, int]]
) -> None:
    await session.execute(
        text(
            "INSERT INTO report_chunks (report_id, chunk_no, first_position, last_position)"
            " SELECT :id, n - 1, f, l FROM unnest(CAST(:firsts AS int[]), CAST(:lasts AS int[]))"
            " WITH ORDINALITY AS b(f, l, n)"
        ),
        {"id": report_id, "firsts": [b[0] for b in bounds], "lasts": [b[1] for b in bounds]},
    )
    await session.execute(
        text("UPDATE report_requests SET chunk_count = :n WHERE id = :id"),
        {"id": report_id, "n": len(bounds)},
    )


async def chunks(session: AsyncSession, report_id: uuid.UUID) -> list[RowMapping]:
    rows = await session.execute(
        text(
            "SELECT chunk_no, first_position, last_position, record_count, byte_count, done_at"
            " FROM report_chunks WHERE report_id = :id ORDER BY chunk_no"
        ),
        {"id": report_id},
    )
    return list(rows.mappings())


async def chunk_esiids(
    session: AsyncSession, report_id: uuid.UUID, first: int, last: int
) -> list[str]:
    rows = await session.scalars(
        text(
            "SELECT esiid FROM report_esiids WHERE report_id = :id AND position >= :first"
            " AND position < :last AND included ORDER BY position"
        ),
        {"id": report_id, "first": first, "last": last},
    )
    return list(rows)


async def set_sort_memory(session: AsyncSession, megabytes: int) -> None:
    # SET takes no bind parameters; the value is an int we format ourselves.
    await session.execute(text(f"SET LOCAL work_mem = '{int(megabytes)}MB'"))


async def chunk_done(
    session: AsyncSession, report_id: uuid.UUID, chunk_no: int, records: int, size: int
) -> None:
    await session.execute(
        text(
            "UPDATE report_chunks SET record_count = :records, byte_count = :size,"
            " done_at = clock_timestamp() WHERE report_id = :id AND chunk_no = :n"
        ),
        {"id": report_id, "n": chunk_no, "records": records, "size": size},
    )


async def chunk_undone(session: AsyncSession, report_id: uuid.UUID, chunk_no: int) -> None:
    await session.execute(
        text(
            "UPDATE report_chunks SET record_count = NULL, byte_count = NULL, done_at = NULL"
            " WHERE report_id = :id AND chunk_no = :n"
        ),
        {"id": report_id, "n": chunk_no},
    )


async def plan_files(
    session: AsyncSession, report_id: uuid.UUID, planned: Sequence[tuple[str, list[int], int, int]]
) -> None:
    """Record the files to deliver once: (name, chunk numbers, records, bytes) each."""
    for file_no, (name, chunk_nos, records, size) in enumerate(planned):
        await session.execute(
            text(
                "INSERT INTO report_files (report_id, file_no, file_name, chunk_nos, record_count,"
                " byte_count) VALUES (:id, :no, :name, :chunks, :records, :size)"
                " ON CONFLICT (report_id, file_no) DO UPDATE SET file_name = EXCLUDED.file_name,"
                " chunk_nos = EXCLUDED.chunk_nos, record_count = EXCLUDED.record_count,"
                " byte_count = EXCLUDED.byte_count WHERE report_files.delivered_at IS NULL"
            ),
            {
                "id": report_id,
                "no": file_no,
                "name": name,
                "chunks": chunk_nos,
                "records": records,
                "size": size,
            },
        )


async def file_delivered(
    session: AsyncSession, report_id: uuid.UUID, file_no: int, placed_name: str, ref: str | None
) -> None:
    await session.execute(
        text(
            "UPDATE report_files SET placed_name = :placed, delivery_ref = :ref,"
            " delivered_at = clock_timestamp() WHERE report_id = :id AND file_no = :no"
        ),
        {"id": report_id, "no": file_no, "placed": placed_name, "ref": ref},
    )


async def included_esiids(session: AsyncSession, report_id: uuid.UUID) -> list[str]:
    rows = await session.scalars(
        text(
            "SELECT esiid FROM report_esiids WHERE report_id = :id AND included ORDER BY position"
        ),
        {"id": report_id},
    )
    return list(rows)


async def audit(session: AsyncSession, sql: str, params: dict[str, Any]) -> None:
    # read_audit is partitioned by month of occurred_at; a day either side covers any
    # session time zone's view of the month bounds.
    await session.execute(
        text(
            "SELECT meterhub_ensure_month_partitions('read_audit'::regclass,"
            " CURRENT_DATE - 1, CURRENT_DATE + 1)"
        )
    )
    await session.execute(text(sql), params)


async def complete(session: AsyncSession, report_id: uuid.UUID, records: int) -> None:
    await session.execute(
        text(
            "UPDATE report_requests SET status = 'completed', record_count = :records,"
            " finished_at = clock_timestamp(), lease_until = NULL, last_error = NULL"
            " WHERE id = :id"
        ),
        {"id": report_id, "records": records},
    )


async def requeue(
    session: AsyncSession, report_id: uuid.UUID, error: str, *, final: bool, delay: float
) -> None:
    await session.execute(
        text(
            "UPDATE report_requests SET last_error = :error, lease_until = NULL, worker = NULL,"
            " status = CASE WHEN :final THEN 'failed' ELSE 'queued' END,"
            " finished_at = CASE WHEN :final THEN clock_timestamp() END,"
            " not_before = clock_timestamp() + make_interval(secs => :delay) WHERE id = :id"
        ),
        {"id": report_id, "error": error[:4000], "final": final, "delay": delay},
    )


async def purge_finished(session: AsyncSession, older_than_days: int) -> list[uuid.UUID]:
    """Delete reports finished that long ago (their ESI IDs, chunks and files cascade)."""
    rows = await session.scalars(
        text(
            "DELETE FROM report_requests WHERE status IN ('completed', 'failed')"
            " AND finished_at < clock_timestamp() - make_interval(days => :days) RETURNING id"
        ),
        {"days": older_than_days},
    )
    return list(rows)
