"""``GET /v1/deliveries`` and ``GET /v1/retrievals``: the delivery and retrieval logs."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from meterhub_common.auth import Principal, require_roles
from meterhub_common.db import Session
from meterhub_common.errors import BadRequest
from meterhub_common.models.usage_api import Role
from meterhub_ftps_publisher.records import service

router = APIRouter(prefix="/v1", tags=["records"])

Reader = Annotated[Principal, require_roles(Role.REP, Role.OPERATOR)]
Rep = Annotated[str | None, Query(pattern=r"^[0-9]{9}([0-9]{4})?$")]
Limit = Annotated[int, Query(ge=1, le=10_000)]
From = Annotated[date | None, Query(alias="from")]


def _check(first: date | None, last: date | None) -> None:
    if first and last and first > last:
        raise BadRequest(f"from ({first}) is after to ({last})")


@router.get("/deliveries", summary="Scheduled vs actual delivery per REP and operating day")
async def deliveries(
    session: Session,
    principal: Reader,
    rep: Rep = None,
    first: From = None,
    to: date | None = None,
    limit: Limit = 1000,
) -> dict[str, Any]:
    _check(first, to)
    rows = await service.deliveries(session, principal, rep, first, to, limit)
    return {"deliveries": rows}


@router.get("/retrievals", summary="FTPS downloads: who, which file, when, bytes, from where")
async def retrievals(
    session: Session,
    principal: Reader,
    rep: Rep = None,
    first: From = None,
    to: date | None = None,
    limit: Limit = 1000,
) -> dict[str, Any]:
    _check(first, to)
    rows = await service.retrievals(session, principal, rep, first, to, limit)
    return {"retrievals": rows}
