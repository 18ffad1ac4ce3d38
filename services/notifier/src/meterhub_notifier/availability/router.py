"""HTTP: ``/v1/availability`` and ``/v1/incidents`` (any authenticated client)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from meterhub_common.auth import CurrentPrincipal
from meterhub_common.db import Session
from meterhub_common.domain.operating_day import CENTRAL
from meterhub_common.errors import BadRequest, NotFound
from meterhub_common.models.notifier import Incident, NoticeThread
from meterhub_notifier.availability import repository
from meterhub_notifier.availability.arithmetic import month_bounds
from meterhub_notifier.availability.service import compute_month, month_json, parse_month
from meterhub_notifier.notices.repository import thread_by_id

router = APIRouter(tags=["availability"])

MONTH = Query(default=None, pattern=r"^\d{4}-\d{2}$", description="YYYY-MM, Central time")


def month_or_current(request: Request, month: str | None) -> str:
    if month is None:
        return str(request.app.state.clock.now().astimezone(CENTRAL).strftime("%Y-%m"))
    try:
        parse_month(month)
    except ValueError as exc:
        raise BadRequest(str(exc)) from exc
    return month


@router.get("/v1/availability", summary="Availability per service for a month (seed 002)")
async def availability(
    request: Request, session: Session, _: CurrentPrincipal, month: str | None = MONTH
) -> dict[str, Any]:
    chosen = month_or_current(request, month)
    settings = request.app.state.settings
    result = await compute_month(session, settings, chosen, request.app.state.clock.now())
    return month_json(result, settings)


class IncidentOut(BaseModel):
    id: uuid.UUID
    service: str
    started_at: datetime
    ended_at: datetime | None
    opened_at: datetime
    closed_at: datetime | None
    minutes: int | None
    last_error: str | None
    thread: str | None


def incident_out(incident: Incident, thread: NoticeThread | None) -> IncidentOut:
    minutes = None
    if incident.ended_at:
        minutes = int((incident.ended_at - incident.started_at).total_seconds() // 60)
    return IncidentOut(
        id=incident.id,
        service=incident.service,
        started_at=incident.started_at.astimezone(CENTRAL),
        ended_at=incident.ended_at.astimezone(CENTRAL) if incident.ended_at else None,
        opened_at=incident.opened_at.astimezone(CENTRAL),
        closed_at=incident.closed_at.astimezone(CENTRAL) if incident.closed_at else None,
        minutes=minutes,
        last_error=incident.last_error,
        thread=thread.code if thread else None,
    )


@router.get("/v1/incidents", summary="Incidents, newest first")
async def incidents(
    session: Session,
    _: CurrentPrincipal,
    service: str | None = Query(default=None, max_length=32),
    month: str | None = MONTH,
    open_only: bool = False,
    limit: int = Query(default=100, ge=1, le=1000),
) -> list[IncidentOut]:
    start = end = None
    if month:
        try:
            start, end = month_bounds(*parse_month(month))
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
    rows = await repository.list_incidents(
        session, service=service, start=start, end=end, open_only=open_only, limit=limit
    )
    result = []
    for incident in rows:
        thread = await thread_by_id(session, incident.thread_id) if incident.thread_id else None
        result.append(incident_out(incident, thread))
    return result


@router.get("/v1/incidents/{incident_id}", summary="One incident")
async def incident(incident_id: uuid.UUID, session: Session, _: CurrentPrincipal) -> IncidentOut:
    found = await repository.incident_by_id(session, incident_id)
    if found is None:
        raise NotFound(f"incident {incident_id} does not exist")
    thread = await thread_by_id(session, found.thread_id) if found.thread_id else None
    return incident_out(found, thread)
