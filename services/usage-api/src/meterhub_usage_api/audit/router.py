"""``GET /v1/audit``: who read what, for operators."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field

from meterhub_common.auth import Principal, require_roles
from meterhub_common.db import Session
from meterhub_common.domain.operating_day import CENTRAL
from meterhub_common.errors import Unprocessable
from meterhub_common.models.usage_api import Role
from meterhub_usage_api.audit import repository
from meterhub_usage_api.openapi import BEARER_SECURITY, error_responses

router = APIRouter(prefix="/v1/audit", tags=["audit"])

_DUNS = re.compile(r"[0-9]{9}([0-9]{4})?")


class AuditRecord(BaseModel):
    id: int
    occurred_at: datetime
    entity_id: uuid.UUID
    role: str = Field(examples=["rep"])
    client_id: str = Field(examples=["rep-acme-backoffice"])
    endpoint: str = Field(examples=["GET /v1/esiids/{esiid}/intervals"])
    esiid: str | None = Field(examples=["10443720000000001"])
    range_start: date | None
    range_end: date | None
    row_count: int = Field(description="Records returned (days, reads, periods or totals).")
    status_code: int = Field(description="200, or 404 when the caller was refused.")
    request_id: str | None


class AuditPage(BaseModel):
    entries: list[AuditRecord]
    next_before: str | None = Field(
        description="Pass as `before` for the next (older) page; null on the last page."
    )


_EARLIEST = datetime(1900, 1, 2, tzinfo=UTC)
_LATEST = datetime(2999, 12, 31, tzinfo=UTC)


def _cursor(value: str) -> tuple[datetime, int]:
    at, _, ident = value.rpartition("|")
    try:
        instant, number = datetime.fromisoformat(at), int(ident)
    except ValueError:
        instant, number = None, -1
    if instant is None or instant.tzinfo is None or not 0 <= number < 2**63:
        raise Unprocessable(f"before={value!r} is not a cursor from a previous page")
    return instant, number


def _within(name: str, value: datetime) -> datetime:
    if not _EARLIEST <= value <= _LATEST:
        raise Unprocessable(f"{name}={value.isoformat()} is outside 1900..2999")
    return value


@router.get(
    "",
    summary="The read audit (operators only)",
    description=(
        "Audited reads, newest first: who (entity, role, client), which ESI ID, what range, "
        "which endpoint, when, how many records, and the answer (404s included, so probing "
        "shows). Filter by ESI ID, by entity (its id or DUNS) and by time (`from` inclusive, "
        "`to` exclusive; default the last 24 hours). Reads reach the audit within about a "
        "second."
    ),
    response_model=AuditPage,
    responses={**error_responses(401, 403, 422, 429)},
    openapi_extra=BEARER_SECURITY,
)
async def get_audit(
    session: Session,
    _: Annotated[Principal, require_roles(Role.OPERATOR)],
    esiid: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9]{1,64}$")] = None,
    entity: Annotated[
        str | None, Query(description="An entity id (UUID) or DUNS.", examples=["123456789"])
    ] = None,
    since: Annotated[AwareDatetime | None, Query(alias="from")] = None,
    until: Annotated[AwareDatetime | None, Query(alias="to")] = None,
    before: Annotated[str | None, Query(description="Cursor from `next_before`.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    until = _within("to", until or datetime.now(UTC))
    since = _within("from", since or until - timedelta(days=1))
    entity_id: uuid.UUID | None = None
    duns: str | None = None
    if entity is not None:
        if _DUNS.fullmatch(entity):
            duns = entity
        else:
            try:
                entity_id = uuid.UUID(entity)
            except ValueError as exc:
                raise Unprocessable(f"entity={entity!r} is neither a UUID nor a DUNS") from exc
    rows = await repository.entries(
        session,
        since=since,
        until=until,
        esiid=esiid,
        entity_id=entity_id,
        duns=duns,
        before=_cursor(before) if before else None,
        limit=limit,
    )
    records = [AuditRecord(**dict(row)) for row in rows]
    next_before = None
    if len(records) == limit:
        last = records[-1]
        next_before = f"{last.occurred_at.isoformat()}|{last.id}"
    for record in records:
        record.occurred_at = record.occurred_at.astimezone(CENTRAL)
    return AuditPage(entries=records, next_before=next_before)
