"""Queries of the read audit."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_usage_api.database import fetch


async def entries(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    esiid: str | None,
    entity_id: uuid.UUID | None,
    duns: str | None,
    before: tuple[datetime, int] | None,
    limit: int,
) -> list[asyncpg.Record]:
    conditions = ["a.occurred_at >= :since", "a.occurred_at < :until"]
    params: dict[str, object] = {"since": since, "until": until, "limit": limit}
    if esiid is not None:
        conditions.append("a.esiid = :esiid")
        params["esiid"] = esiid
    if entity_id is not None:
        conditions.append("a.entity_id = :entity_id")
        params["entity_id"] = entity_id
    if duns is not None:
        conditions.append("a.entity_id IN (SELECT e.id FROM entities e WHERE e.duns = :duns)")
        params["duns"] = duns
    if before is not None:
        conditions.append("(a.occurred_at, a.id) < (:before_at, :before_id)")
        params["before_at"], params["before_id"] = before
    where = " AND ".join(conditions)
    sql = (
        "SELECT a.id, a.occurred_at, a.entity_id, a.role, a.client_id, a.endpoint, a.esiid,"  # noqa: S608
        " a.range_start, a.range_end, a.row_count, a.status_code, a.request_id"
        f" FROM read_audit a WHERE {where}"
        " ORDER BY a.occurred_at DESC, a.id DESC LIMIT :limit"
    )
    return await fetch(session, sql, params)
