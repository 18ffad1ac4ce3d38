"""Read-only queries on tables other services own: API clients, ESI IDs, meters, service history.

The han service never writes these tables.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


@dataclass(frozen=True)
class ClientRecord:
    client_id: str
    secret_hash: str
    disabled_at: datetime | None
    entity_id: uuid.UUID
    role: str
    duns: str | None


_CLIENT = text(
    """
    SELECT c.client_id, c.secret_hash, c.disabled_at, e.id AS entity_id, e.role, e.duns
    FROM api_clients c JOIN entities e ON e.id = c.entity_id
    WHERE c.client_id = :client_id
    """
)


async def find_client(session: AsyncSession, client_id: str) -> ClientRecord | None:
    row = (await session.execute(_CLIENT, {"client_id": client_id})).mappings().first()
    return None if row is None else ClientRecord(**row)


@dataclass(frozen=True)
class RepScope:
    """An ESI ID the caller serves today as REP of record, with its TDSP and active meters."""

    esiid: str
    tdsp_duns: str
    meters: tuple[str, ...]
    next_id: int


# The sequence value comes along so a request needs one round trip fewer; an id drawn for a
# request that is then refused is simply skipped (sequences have gaps anyway).
_SCOPE_SQL = """
    SELECT e.tdsp_duns,
           ARRAY(SELECT m.meter_number FROM meters m
                 WHERE m.esiid = e.esiid
                   AND (m.removal_date IS NULL OR m.removal_date > :today)
                 ORDER BY m.meter_number) AS meters,
           nextval('han_request_id_seq') AS next_id
           {lock}
    FROM esiids e
    WHERE e.esiid = :esiid
      AND EXISTS (SELECT 1 FROM service_history s
                  WHERE s.esiid = e.esiid AND s.rep_duns = :rep_duns
                    AND s.start_date <= :today
                    AND (s.end_date IS NULL OR s.end_date > :today))
"""
_REP_SCOPE = text(_SCOPE_SQL.format(lock=""))
# The same, also taking the ESI ID's transaction lock (one round trip for both): every
# decision about the ESI ID's devices is made under it, in the statements that follow.
_REP_SCOPE_LOCKED = text(
    _SCOPE_SQL.format(lock=", pg_advisory_xact_lock(hashtextextended('han:' || e.esiid, 0))")
)


async def rep_scope(
    session: AsyncSession, esiid: str, rep_duns: str, today: date, *, lock: bool = False
) -> RepScope | None:
    statement = _REP_SCOPE_LOCKED if lock else _REP_SCOPE
    params = {"esiid": esiid, "rep_duns": rep_duns, "today": today}
    row = (await session.execute(statement, params)).first()
    if row is None:
        return None
    return RepScope(esiid=esiid, tdsp_duns=row[0], meters=tuple(row[1]), next_id=row[2])


_TDSP_NAMES = text("SELECT duns, name FROM entities WHERE role = 'tdsp' AND duns IS NOT NULL")


async def tdsp_names(session: AsyncSession) -> dict[str, str]:
    return {duns: name for duns, name in (await session.execute(_TDSP_NAMES)).all()}
