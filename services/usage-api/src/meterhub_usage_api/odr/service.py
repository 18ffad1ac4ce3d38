"""The rules of on-demand reads.

- The ESI ID's REP of record, or the customer holding it, may ask; anybody else gets the 404
  of an unknown ESI ID.
- One request per ESI ID per requester per hour and at most ``odr_daily_cap_per_tdsp`` per
  TDSP per operating day; beyond either, 429 with ``Retry-After``. A request the head-end
  never received (it was down) counts toward neither.
- The request is recorded PENDING before the head-end is called, so its report can never
  arrive for an unknown id; the head-end's acknowledgement, refusal or silence is recorded.
- Only the ESI ID's TDSP may report the outcome, once.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.auth import Principal
from meterhub_common.domain.operating_day import day_bounds
from meterhub_common.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unprocessable,
)
from meterhub_common.models.usage_api import OdrStatus, Role
from meterhub_usage_api.odr import repository as repo
from meterhub_usage_api.odr.headend import HeadEndError, HeadEnds
from meterhub_usage_api.odr.schemas import OdrReport


def _unknown(esiid: str) -> NotFound:
    return NotFound(f"ESI ID {esiid} was not found")


def _too_many(detail: str, seconds: float) -> TooManyRequests:
    wait = max(1, math.ceil(seconds))
    return TooManyRequests(detail, headers={"Retry-After": str(wait)}, retry_after=wait)


async def request_read(
    session: AsyncSession,
    principal: Principal,
    esiid: str,
    *,
    today: date,
    headends: HeadEnds,
    daily_cap: int,
    min_interval_seconds: int,
) -> uuid.UUID:
    """Record a PENDING request within the limits (the caller commits, then forwards it)."""
    found = await repo.target(
        session, principal.role, esiid, principal.duns or "", principal.entity_id, today
    )
    if found is None:
        raise _unknown(esiid)
    if found["meter_number"] is None:
        raise Unprocessable(f"ESI ID {esiid} has no meter in service to read")
    tdsp = found["tdsp_duns"]
    if not headends.configured(tdsp):
        raise ServiceUnavailable(
            f"on-demand reads are not available for TDSP {tdsp}: no head-end is configured"
        )
    await repo.lock_requester(session, principal.entity_id, esiid)
    wait = await repo.seconds_until_allowed(
        session, principal.entity_id, esiid, min_interval_seconds
    )
    if wait is not None:
        raise _too_many(
            f"one on-demand read of ESI ID {esiid} per {min_interval_seconds // 60} minutes; "
            f"ask again in {math.ceil(wait)} s",
            wait,
        )
    if not await repo.take_daily_slot(session, tdsp, today, daily_cap):
        midnight = day_bounds(today)[1]
        raise _too_many(
            f"TDSP {tdsp} has taken its {daily_cap:,} on-demand reads for {today}; ask again "
            "after midnight Central",
            (midnight - datetime.now(UTC)).total_seconds(),
        )
    request_id = uuid.uuid4()
    await repo.insert(
        session,
        request_id=request_id,
        esiid=esiid,
        meter_number=found["meter_number"],
        tdsp_duns=tdsp,
        requester_entity_id=principal.entity_id,
        requester_role=principal.role.value,
        client_id=principal.client_id,
    )
    return request_id


async def forward(
    session: AsyncSession, headends: HeadEnds, request_id: uuid.UUID, today: date
) -> None:
    """Send the committed request to the head-end and record what happened."""
    row = await repo.get(session, request_id)
    assert row is not None, "forward() follows request_read() and its commit"
    try:
        ack = await headends.request_on_demand_read(
            row["tdsp_duns"], str(request_id), row["esiid"], row["meter_number"]
        )
    except HeadEndError as exc:
        await repo.fail(session, request_id, exc.reason, reached=exc.reached)
        if not exc.reached:
            await repo.give_back_daily_slot(session, row["tdsp_duns"], today)
        return
    if not ack.accepted:
        await repo.fail(
            session,
            request_id,
            f"refused by the head-end: {ack.reason or 'no reason given'}",
            reached=True,
        )
        return
    await repo.mark_sent(session, request_id)


async def visible(session: AsyncSession, principal: Principal, request_id: uuid.UUID) -> RowMapping:
    row = await repo.get(session, request_id)
    if row is None or (
        principal.role is not Role.OPERATOR and row["requester_entity_id"] != principal.entity_id
    ):
        raise NotFound(f"on-demand read {request_id} was not found")
    return row


async def settle_if_silent(
    session: AsyncSession, row: RowMapping, timeout_seconds: int
) -> RowMapping:
    """A request the head-end never reported on is FAILED once ``timeout_seconds`` passed."""
    if row["status"] != OdrStatus.PENDING:
        return row
    waited = (datetime.now(UTC) - row["created_at"]).total_seconds()
    if waited < timeout_seconds:
        return row
    await repo.fail(
        session,
        row["id"],
        f"the head-end reported no result within {timeout_seconds // 60} minutes",
        reached=row["sent_at"] is not None,
    )
    settled = await repo.get(session, row["id"])
    assert settled is not None
    return settled


def view(row: RowMapping) -> dict[str, Any]:
    reading = None
    if row["status"] == OdrStatus.COMPLETED and row["register_kwh"] is not None:
        reading = {"register_kwh": str(row["register_kwh"]), "read_at": row["read_at"]}
    return {
        "id": row["id"],
        "esiid": row["esiid"],
        "meter_number": row["meter_number"],
        "status": row["status"],
        "reading": reading,
        "failure_reason": row["failure_reason"],
        "requested_at": row["created_at"],
        "completed_at": row["completed_at"],
    }


async def record_report(session: AsyncSession, principal: Principal, body: OdrReport) -> str:
    """The head-end's report; returns the status recorded."""
    if principal.role is not Role.TDSP or not principal.duns:
        raise Forbidden("on-demand read results are reported by the ESI ID's TDSP")
    try:
        request_id = uuid.UUID(body.request_id)
    except ValueError as exc:
        raise NotFound(f"on-demand read {body.request_id} was not found") from exc
    row = await repo.get(session, request_id, for_update=True)
    if row is None or row["tdsp_duns"] != principal.duns or row["esiid"] != body.esiid:
        # Another TDSP's request looks exactly like one that does not exist.
        raise NotFound(f"on-demand read {body.request_id} was not found")
    status = OdrStatus(body.status.upper())
    if status is OdrStatus.COMPLETED and (body.register_kwh is None or body.read_at is None):
        raise Unprocessable("a completed read carries register_kwh and read_at")
    if status is OdrStatus.FAILED and not body.failure_reason:
        raise Unprocessable("a failed read carries failure_reason")
    if row["status"] == status:
        return status.value  # the same report again (a retrying head-end)
    if row["status"] != OdrStatus.PENDING:
        raise Conflict(f"on-demand read {request_id} is already {row['status']}")
    await repo.report(
        session,
        request_id,
        status=status.value,
        register_kwh=body.register_kwh if status is OdrStatus.COMPLETED else None,
        read_at=body.read_at if status is OdrStatus.COMPLETED else None,
        failure_reason=body.failure_reason if status is OdrStatus.FAILED else None,
    )
    return status.value
