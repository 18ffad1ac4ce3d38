"""Records of seed 003: scheduled vs actual delivery per REP and day, and who downloaded what.

Operators read everyone's; a REP reads only its own, whatever it asks for.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.auth import Principal
from meterhub_common.domain.operating_day import CENTRAL
from meterhub_common.errors import Forbidden
from meterhub_common.models.usage_api import Role
from meterhub_ftps_publisher.records import repository


def scope(principal: Principal, rep: str | None) -> str | None:
    if principal.role is Role.OPERATOR:
        return rep
    if not principal.duns:
        raise Forbidden("the token carries no DUNS")
    if rep is not None and rep != principal.duns:
        raise Forbidden(f"a REP reads only its own records; ask for rep={principal.duns}")
    return principal.duns


async def deliveries(
    session: AsyncSession,
    principal: Principal,
    rep: str | None,
    first: date | None,
    last: date | None,
    limit: int,
) -> list[dict[str, Any]]:
    rows = await repository.deliveries(session, scope(principal, rep), first, last, limit)
    files = await repository.files_for(session, [(r.rep_duns, r.operating_day) for r in rows])
    by_day: dict[tuple[str, date], list[dict[str, Any]]] = {}
    for f in files:
        assert f.operating_day is not None
        by_day.setdefault((f.rep_duns, f.operating_day), []).append(
            {
                "file_name": f.file_name,
                "kind": f.kind,
                "supplemental": f.supplemental,
                "source": f.source,
                "records": f.record_count,
                "esiids": f.esiid_count,
                "size_bytes": f.size_bytes,
                "placed_at": f.placed_at,
                "purged_at": f.purged_at,
            }
        )
    return [
        {
            "rep_duns": r.rep_duns,
            "operating_day": r.operating_day,
            "data_received_at": r.data_received_at,
            "scheduled_by": r.scheduled_by,
            "first_delivered_at": r.first_delivered_at,
            "last_delivered_at": r.last_delivered_at,
            "on_time": r.first_delivered_at is not None and r.first_delivered_at <= r.scheduled_by,
            "files": by_day.get((r.rep_duns, r.operating_day), []),
        }
        for r in rows
    ]


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=CENTRAL)


async def retrievals(
    session: AsyncSession,
    principal: Principal,
    rep: str | None,
    first: date | None,
    last: date | None,
    limit: int,
) -> list[dict[str, Any]]:
    since = _day_start(first) if first else None
    until = _day_start(last + timedelta(days=1)) if last else None
    rows = await repository.retrievals(session, scope(principal, rep), since, until, limit)
    return [
        {
            "rep_duns": r.rep_duns,
            "file_name": r.file_name,
            "bytes": r.bytes_sent,
            "file_size": r.file_size,
            "completed": r.completed,
            "remote_address": r.remote_address,
            "started_at": r.started_at,
            "finished_at": r.finished_at,
        }
        for r in rows
    ]
