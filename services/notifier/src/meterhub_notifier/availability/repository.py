"""All SQL of the minute ledger and incidents."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.models.notifier import Incident, ProbeMinute


async def insert_minute(
    session: AsyncSession,
    *,
    service: str,
    minute: datetime,
    state: str,
    probe_ok: bool,
    latency_ms: int | None,
    error: str | None,
    now: datetime,
) -> bool:
    """Record a minute unless another replica already did; True when this call wrote it."""
    statement = (
        insert(ProbeMinute)
        .values(
            service=service,
            minute=minute,
            state=state,
            probe_ok=probe_ok,
            latency_ms=latency_ms,
            error=error[:2000] if error else None,
            recorded_at=now,
        )
        .on_conflict_do_nothing(index_elements=["service", "minute"])
        .returning(ProbeMinute.service)
    )
    return (await session.execute(statement)).first() is not None


async def minutes_between(
    session: AsyncSession, service: str, start: datetime, end: datetime
) -> list[tuple[datetime, str, bool]]:
    rows = await session.execute(
        select(ProbeMinute.minute, ProbeMinute.state, ProbeMinute.probe_ok)
        .where(
            ProbeMinute.service == service, ProbeMinute.minute >= start, ProbeMinute.minute < end
        )
        .order_by(ProbeMinute.minute)
    )
    return [(m, s, ok) for m, s, ok in rows.all()]


async def outcomes_between(
    session: AsyncSession, start: datetime, end: datetime
) -> dict[str, list[tuple[datetime, bool]]]:
    rows = await session.execute(
        select(ProbeMinute.service, ProbeMinute.minute, ProbeMinute.probe_ok).where(
            ProbeMinute.minute >= start, ProbeMinute.minute < end
        )
    )
    result: dict[str, list[tuple[datetime, bool]]] = {}
    for service, minute, ok in rows.all():
        result.setdefault(service, []).append((minute, ok))
    return result


async def first_minutes(session: AsyncSession) -> dict[str, datetime]:
    """When each service's measurement began (its first ledger minute)."""
    rows = await session.execute(
        select(ProbeMinute.service, func.min(ProbeMinute.minute)).group_by(ProbeMinute.service)
    )
    return {service: first for service, first in rows.all()}


async def lock_service(session: AsyncSession, service: str) -> None:
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
        {"key": f"notifier-incident:{service}"},
    )


async def open_incident(session: AsyncSession, service: str) -> Incident | None:
    return (
        await session.execute(
            select(Incident).where(Incident.service == service, Incident.closed_at.is_(None))
        )
    ).scalar_one_or_none()


async def add_incident(session: AsyncSession, incident: Incident) -> None:
    session.add(incident)
    await session.flush()


async def list_incidents(
    session: AsyncSession,
    *,
    service: str | None,
    start: datetime | None,
    end: datetime | None,
    open_only: bool,
    limit: int,
) -> list[Incident]:
    query = select(Incident).order_by(Incident.started_at.desc()).limit(limit)
    if service:
        query = query.where(Incident.service == service)
    if start:
        query = query.where(func.coalesce(Incident.ended_at, func.now()) >= start)
    if end:
        query = query.where(Incident.started_at < end)
    if open_only:
        query = query.where(Incident.closed_at.is_(None))
    return list((await session.execute(query)).scalars())


async def incident_by_id(session: AsyncSession, incident_id: uuid.UUID) -> Incident | None:
    return (
        await session.execute(select(Incident).where(Incident.id == incident_id))
    ).scalar_one_or_none()


async def window_counts(
    session: AsyncSession, now: datetime, windows: dict[str, datetime]
) -> dict[str, dict[str, tuple[int, int]]]:
    """Per service and window name: (down minutes, up+down minutes) since the window's start."""
    oldest = min(windows.values())
    columns = []
    for name, since in windows.items():
        columns.append(
            func.count()
            .filter(ProbeMinute.state == "down", ProbeMinute.minute >= since)
            .label(f"d_{name}")
        )
        columns.append(
            func.count()
            .filter(ProbeMinute.state != "maintenance", ProbeMinute.minute >= since)
            .label(f"n_{name}")
        )
    rows = await session.execute(
        select(ProbeMinute.service, *columns)
        .where(ProbeMinute.minute >= oldest, ProbeMinute.minute <= now)
        .group_by(ProbeMinute.service)
    )
    result: dict[str, dict[str, tuple[int, int]]] = {}
    for row in rows.mappings():
        result[row["service"]] = {name: (row[f"d_{name}"], row[f"n_{name}"]) for name in windows}
    return result
