"""All SQL of on-demand reads: who may ask, the limits, the request rows."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.models.usage_api import Role

# Who may ask for an on-demand read of an ESI ID today: its REP of record, or the customer
# whose account holds it. Anybody else is answered as if the ESI ID did not exist.
_MAY_ASK = {
    Role.REP: (
        "EXISTS (SELECT 1 FROM service_history sh WHERE sh.esiid = e.esiid"
        " AND sh.rep_duns = :duns AND sh.start_date <= :today"
        " AND (sh.end_date IS NULL OR sh.end_date > :today))"
    ),
    Role.CUSTOMER: (
        "EXISTS (SELECT 1 FROM customer_esiid_links l WHERE l.esiid = e.esiid"
        " AND l.entity_id = :entity_id AND l.start_date <= :today"
        " AND (l.end_date IS NULL OR l.end_date > :today))"
    ),
}
ASKING_ROLES = frozenset(_MAY_ASK)


async def target(
    session: AsyncSession, role: Role, esiid: str, duns: str, entity_id: uuid.UUID, today: date
) -> RowMapping | None:
    """The ESI ID's TDSP and meter in service, if ``role`` may ask for a read of it."""
    if role not in _MAY_ASK:
        return None
    row = await session.execute(
        text(
            "SELECT e.esiid, e.tdsp_duns, (SELECT m.meter_number FROM meters m"  # noqa: S608
            "   WHERE m.esiid = e.esiid AND (m.removal_date IS NULL OR m.removal_date > :today)"
            "   ORDER BY m.install_date DESC NULLS LAST, m.meter_number LIMIT 1) AS meter_number"
            f" FROM esiids e WHERE e.esiid = :esiid AND {_MAY_ASK[role]}"
        ),
        {"esiid": esiid, "duns": duns, "entity_id": entity_id, "today": today},
    )
    return row.mappings().first()


async def lock_requester(session: AsyncSession, entity_id: uuid.UUID, esiid: str) -> None:
    """Serialize one requester's requests for one ESI ID (the hourly limit is check-then-act)."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"odr:{entity_id}:{esiid}"},
    )


async def seconds_until_allowed(
    session: AsyncSession, entity_id: uuid.UUID, esiid: str, interval_seconds: int
) -> float | None:
    """Seconds until the requester may ask again; None if it may now.

    A request that never reached the head-end (it was down) does not count.
    """
    wait = await session.scalar(
        text(
            "SELECT EXTRACT(EPOCH FROM max(created_at) + make_interval(secs => :interval)"
            " - clock_timestamp()) FROM odr_requests"
            " WHERE requester_entity_id = :entity AND esiid = :esiid"
            " AND created_at > clock_timestamp() - make_interval(secs => :interval)"
            " AND NOT (status = 'FAILED' AND sent_at IS NULL)"
        ),
        {"entity": entity_id, "esiid": esiid, "interval": interval_seconds},
    )
    if wait is None or float(wait) <= 0:
        return None
    return float(wait)


async def take_daily_slot(session: AsyncSession, tdsp_duns: str, day: date, cap: int) -> bool:
    taken = await session.scalar(
        text(
            "INSERT INTO odr_daily_counts (tdsp_duns, operating_day, request_count)"
            " VALUES (:tdsp, :day, 1) ON CONFLICT (tdsp_duns, operating_day) DO UPDATE"
            " SET request_count = odr_daily_counts.request_count + 1"
            " WHERE odr_daily_counts.request_count < :cap RETURNING request_count"
        ),
        {"tdsp": tdsp_duns, "day": day, "cap": cap},
    )
    return taken is not None


async def give_back_daily_slot(session: AsyncSession, tdsp_duns: str, day: date) -> None:
    await session.execute(
        text(
            "UPDATE odr_daily_counts SET request_count = request_count - 1"
            " WHERE tdsp_duns = :tdsp AND operating_day = :day AND request_count > 0"
        ),
        {"tdsp": tdsp_duns, "day": day},
    )


async def insert(
    session: AsyncSession,
    *,
    request_id: uuid.UUID,
    esiid: str,
    meter_number: str,
    tdsp_duns: str,
    requester_entity_id: uuid.UUID,
    requester_role: str,
    client_id: str,
) -> None:
    await session.execute(
        text(
            "INSERT INTO odr_requests (id, esiid, meter_number, tdsp_duns, requester_entity_id,"
            " requester_role, client_id) VALUES (:id, :esiid, :meter, :tdsp, :entity, :role,"
            " :client)"
        ),
        {
            "id": request_id,
            "esiid": esiid,
            "meter": meter_number,
            "tdsp": tdsp_duns,
            "entity": requester_entity_id,
            "role": requester_role,
            "client": client_id,
        },
    )


async def get(
    session: AsyncSession, request_id: uuid.UUID, *, for_update: bool = False
) -> RowMapping | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await session.execute(
        text(f"SELECT * FROM odr_requests WHERE id = :id{lock}"),  # noqa: S608
        {"id": request_id},
    )
    return row.mappings().first()


async def mark_sent(session: AsyncSession, request_id: uuid.UUID) -> None:
    # Only sent_at: the head-end's report may already have completed the request.
    await session.execute(
        text("UPDATE odr_requests SET sent_at = clock_timestamp() WHERE id = :id"),
        {"id": request_id},
    )


async def fail(session: AsyncSession, request_id: uuid.UUID, reason: str, *, reached: bool) -> None:
    await session.execute(
        text(
            "UPDATE odr_requests SET status = 'FAILED', failure_reason = :reason,"
            " completed_at = clock_timestamp(),"
            " sent_at = CASE WHEN :reached THEN clock_timestamp() END"
            " WHERE id = :id AND status = 'PENDING'"
        ),
        {"id": request_id, "reason": reason[:2000], "reached": reached},
    )


async def report(
    session: AsyncSession,
    request_id: uuid.UUID,
    *,
    status: str,
    register_kwh: Decimal | None,
    read_at: datetime | None,
    failure_reason: str | None,
) -> None:
    await session.execute(
        text(
            "UPDATE odr_requests SET status = :status, register_kwh = :kwh, read_at = :read_at,"
            " failure_reason = :reason, completed_at = clock_timestamp(),"
            " sent_at = COALESCE(sent_at, clock_timestamp()) WHERE id = :id"
        ),
        {
            "id": request_id,
            "status": status,
            "kwh": register_kwh,
            "read_at": read_at,
            "reason": failure_reason,
        },
    )
