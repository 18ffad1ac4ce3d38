"""``/v1/agreements``: request, invite, list, accept, decline, revoke; each change audited."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.auth import Principal
from meterhub_common.db import Session
from meterhub_common.models.usage_api import Role
from meterhub_usage_api.agreements import repository, service
from meterhub_usage_api.agreements.mails import MailOutbox
from meterhub_usage_api.agreements.schemas import (
    ESIID_PATTERN,
    AgreementDetail,
    AgreementList,
    AgreementStatusText,
    DataSharingRequest,
    FriendInvitation,
    RevokeIn,
)
from meterhub_usage_api.openapi import BEARER_SECURITY, ErrorBody, error_responses
from meterhub_usage_api.security import Caller
from meterhub_usage_api.settings import UsageApiSettings

router = APIRouter(prefix="/v1/agreements", tags=["agreements"])

AgreementId = Annotated[uuid.UUID, Path(description="The agreement's id.")]


def conflict(description: str, example: str) -> dict[int | str, dict[str, Any]]:
    return {
        409: {
            "model": ErrorBody,
            "description": description,
            "content": {"application/json": {"example": {"error": "conflict", "detail": example}}},
        }
    }


_CHANGE_ERRORS = {
    **error_responses(401, 403, 404, 422, 429),
    **conflict(
        "the agreement is not in a state that allows this",
        "agreement 6f1c... is revoked; only a pending one can be answered",
    ),
}


def _settings(request: Request) -> UsageApiSettings:
    settings: UsageApiSettings = request.app.state.settings
    return settings


def _clock(request: Request) -> service.Clock:
    return service.Clock(request.app.state.today(), _settings(request).agreement_pending_days)


def _mail_context(request: Request) -> service.MailContext:
    settings = _settings(request)
    return service.MailContext(settings.public_url, settings.agreement_pending_days)


async def _send_now(request: Request, mail_ids: list[int]) -> None:
    """Mails go out after the change committed; a relay that is down leaves them to the job."""
    if mail_ids:
        outbox: MailOutbox = request.app.state.agreement_outbox
        await outbox.send_due(mail_ids)


def _out(row: RowMapping, clock: service.Clock) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "status": service.shown_status(row, clock),
        "esiid": row["esiid"],
        "meter_number": row["meter_number"],
        "grantee_entity_id": row["grantee_entity_id"],
        "grantee_name": row["grantee_name"],
        "grantor_entity_id": row["grantor_entity_id"],
        "grantor_name": row["grantor_name"],
        "decider_entity_id": row["decider_entity_id"],
        "term_months": row["term_months"],
        "data_from": row["starts_on"],
        "ends_on": row["ends_on"],
        "created_at": row["created_at"],
        "decided_at": row["decided_at"],
        "revoked_at": row["revoked_at"],
        "invitee_login": row["invitee_login"],
    }


async def _detail(
    session: AsyncSession, principal: Principal, agreement_id: uuid.UUID, clock: service.Clock
) -> dict[str, Any]:
    row = await service.visible_agreement(session, principal, agreement_id)
    return {
        **_out(row, clock),
        "events": [dict(e) for e in await repository.events(session, agreement_id)],
        "mails": [dict(m) for m in await repository.mails_of(session, agreement_id)],
    }


@router.post(
    "",
    status_code=201,
    response_model=AgreementList,
    summary="Request access to customers' ESI IDs (energy data sharing agreement)",
    description=(
        "A CSP (or a REP) names ESI IDs, each with its meter number, and a term of 1, 3, 6, 9, "
        "12, 24 or 36 months (at most 12 for a residential premise). A pair that does not "
        "match answers 404 exactly like an unknown ESI ID. One pending agreement is created "
        "per ESI ID and the customer holding it is emailed to accept or decline. The term "
        "runs from acceptance; the CSP then reads the ESI ID's data from the customer's link "
        "start (its 13-month window applies) until the term ends or the customer revokes it."
    ),
    responses={
        **error_responses(401, 403, 404, 422, 429),
        **conflict(
            "an agreement for one of the ESI IDs is already pending or running",
            "an agreement for ESI ID 10443720000000001 is already pending or in force for you",
        ),
    },
    openapi_extra=BEARER_SECURITY,
)
async def request_agreement(
    request: Request, body: DataSharingRequest, session: Session, principal: Caller
) -> dict[str, Any]:
    clock = _clock(request)
    created, mail_ids = await service.request_data_sharing(
        session, principal, body, clock, _mail_context(request)
    )
    await session.commit()
    await _send_now(request, mail_ids)
    rows = [await service.visible_agreement(session, principal, a) for a in created]
    return {"agreements": [_out(row, clock) for row in rows]}


@router.post(
    "/friends",
    status_code=201,
    response_model=AgreementDetail,
    summary="Invite a friend to see one of your ESI IDs (Friends and Family)",
    description=(
        "A customer invites another customer account, named by username or email, to read "
        "one of the ESI IDs linked to the caller's account for a term (months as for "
        "agreements). The friend is emailed and accepts or declines."
    ),
    responses={
        **error_responses(401, 403, 404, 422, 429),
        **conflict(
            "the friend already has a pending or running agreement for the ESI ID",
            "bob already has a pending or running agreement for 10443720000000001",
        ),
    },
    openapi_extra=BEARER_SECURITY,
)
async def invite_friend(
    request: Request, body: FriendInvitation, session: Session, principal: Caller
) -> dict[str, Any]:
    clock = _clock(request)
    agreement_id, mail_ids = await service.invite_friend(
        session, principal, body, clock, _mail_context(request)
    )
    await session.commit()
    await _send_now(request, mail_ids)
    return await _detail(session, principal, agreement_id, clock)


@router.get(
    "",
    response_model=AgreementList,
    summary="Agreements you are party to (operators: all)",
    description="Newest first. Filter by ESI ID or by status as shown.",
    responses=error_responses(401, 422, 429),
    openapi_extra=BEARER_SECURITY,
)
async def list_agreements(
    request: Request,
    session: Session,
    principal: Caller,
    esiid: Annotated[str | None, Query(pattern=ESIID_PATTERN)] = None,
    status: AgreementStatusText | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    clock = _clock(request)
    rows = await repository.agreements_of(
        session,
        None if principal.role is Role.OPERATOR else principal.entity_id,
        esiid=esiid,
        status=status,
        limit=limit,
        today=clock.today,
        pending_since=clock.pending_since,
    )
    return {"agreements": [_out(row, clock) for row in rows]}


@router.get(
    "/{agreement_id}",
    response_model=AgreementDetail,
    summary="One agreement with its audit trail and mails",
    responses=error_responses(401, 404, 422, 429),
    openapi_extra=BEARER_SECURITY,
)
async def get_agreement(
    request: Request, agreement_id: AgreementId, session: Session, principal: Caller
) -> dict[str, Any]:
    return await _detail(session, principal, agreement_id, _clock(request))


async def _decide(
    request: Request,
    agreement_id: uuid.UUID,
    session: AsyncSession,
    principal: Principal,
    accept: bool,
) -> dict[str, Any]:
    clock = _clock(request)
    _, mail_ids = await service.decide(session, principal, agreement_id, accept=accept, clock=clock)
    await session.commit()
    await _send_now(request, mail_ids)
    return await _detail(session, principal, agreement_id, clock)


@router.post(
    "/{agreement_id}/accept",
    response_model=AgreementDetail,
    summary="Accept a pending agreement (the customer, or the invited friend)",
    description="The term starts today; the grantee's reads work at once.",
    responses=_CHANGE_ERRORS,
    openapi_extra=BEARER_SECURITY,
)
async def accept(
    request: Request, agreement_id: AgreementId, session: Session, principal: Caller
) -> dict[str, Any]:
    return await _decide(request, agreement_id, session, principal, True)


@router.post(
    "/{agreement_id}/decline",
    response_model=AgreementDetail,
    summary="Decline a pending agreement",
    responses=_CHANGE_ERRORS,
    openapi_extra=BEARER_SECURITY,
)
async def decline(
    request: Request, agreement_id: AgreementId, session: Session, principal: Caller
) -> dict[str, Any]:
    return await _decide(request, agreement_id, session, principal, False)


@router.post(
    "/{agreement_id}/revoke",
    response_model=AgreementDetail,
    summary="Revoke a pending or running agreement (either party); reads stop at once",
    responses=_CHANGE_ERRORS,
    openapi_extra=BEARER_SECURITY,
)
async def revoke(
    request: Request,
    agreement_id: AgreementId,
    session: Session,
    principal: Caller,
    body: Annotated[RevokeIn | None, Body()] = None,
) -> dict[str, Any]:
    clock = _clock(request)
    _, mail_ids = await service.revoke(
        session,
        principal,
        agreement_id,
        reason=body.reason if body else None,
        clock=clock,
    )
    await session.commit()
    await _send_now(request, mail_ids)
    return await _detail(session, principal, agreement_id, clock)
