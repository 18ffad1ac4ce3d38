"""On-demand reads: ``POST /v1/esiids/{esiid}/odr``, ``GET /v1/odr/{id}``, and the head-end's
report ``POST /v1/tdsp/odr``."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from meterhub_common.db import Session
from meterhub_usage_api.odr import service
from meterhub_usage_api.odr.headend import HeadEnds
from meterhub_usage_api.odr.schemas import OdrOut, OdrReport, OdrReportAnswer
from meterhub_usage_api.openapi import BEARER_SECURITY, ErrorBody, error_responses
from meterhub_usage_api.security import Caller
from meterhub_usage_api.settings import UsageApiSettings

router = APIRouter(tags=["on-demand reads"])

EsiidPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9]{1,64}$", examples=["10443720000000001"])]


@router.post(
    "/v1/esiids/{esiid}/odr",
    status_code=202,
    response_model=OdrOut,
    summary="Ask the ESI ID's TDSP head-end to read the meter now",
    description=(
        "For the REP of record or the customer holding the ESI ID. The request is forwarded "
        "to the TDSP's head-end and answered 202 with its id (also in `Location`): PENDING "
        "until the head-end reports, then COMPLETED with the register reading and its time, "
        "or FAILED with the reason (also when the head-end refused or could not be reached). "
        "One request per ESI ID per requester per hour, and a daily cap per TDSP (3,000 by "
        "default): beyond either, 429 with `Retry-After`."
    ),
    responses={
        202: {"headers": {"Location": {"schema": {"type": "string"}}}},
        **error_responses(401, 404, 422, 429, 503),
    },
    openapi_extra=BEARER_SECURITY,
)
async def request_read(
    request: Request, esiid: EsiidPath, session: Session, principal: Caller
) -> JSONResponse:
    settings: UsageApiSettings = request.app.state.settings
    headends: HeadEnds = request.app.state.headends
    today = request.app.state.today()
    request_id = await service.request_read(
        session,
        principal,
        esiid,
        today=today,
        headends=headends,
        daily_cap=settings.odr_daily_cap_per_tdsp,
        min_interval_seconds=settings.odr_min_interval_seconds,
    )
    await session.commit()
    await service.forward(session, headends, request_id, today)
    await session.commit()
    row = await service.visible(session, principal, request_id)
    body = OdrOut.model_validate(service.view(row)).model_dump(mode="json")
    return JSONResponse(body, status_code=202, headers={"Location": f"/v1/odr/{request_id}"})


@router.get(
    "/v1/odr/{request_id}",
    response_model=OdrOut,
    summary="An on-demand read: PENDING, COMPLETED (reading and time) or FAILED (reason)",
    responses=error_responses(401, 404, 422, 429),
    openapi_extra=BEARER_SECURITY,
)
async def get_read(
    request: Request,
    request_id: Annotated[uuid.UUID, Path()],
    session: Session,
    principal: Caller,
) -> dict[str, Any]:
    settings: UsageApiSettings = request.app.state.settings
    row = await service.visible(session, principal, request_id)
    row = await service.settle_if_silent(session, row, settings.odr_result_timeout_seconds)
    await session.commit()
    return service.view(row)


@router.post(
    "/v1/tdsp/odr",
    response_model=OdrReportAnswer,
    summary="The head-end reports an on-demand read's outcome (the ESI ID's TDSP only)",
    description=(
        "`status` completed (with `register_kwh` as a decimal string and `read_at`) or failed "
        "(with `failure_reason`). Reporting the same outcome again is accepted; a different "
        "outcome for a finished request is 409. A request of another TDSP answers 404."
    ),
    responses={
        **error_responses(401, 403, 404, 422, 429),
        409: {
            "model": ErrorBody,
            "description": "the request already has another outcome",
            "content": {
                "application/json": {
                    "example": {"error": "conflict", "detail": "on-demand read ... is COMPLETED"}
                }
            },
        },
    },
    openapi_extra=BEARER_SECURITY,
)
async def report_read(body: OdrReport, session: Session, principal: Caller) -> dict[str, Any]:
    status = await service.record_report(session, principal, body)
    await session.commit()
    return {"id": body.request_id, "status": status}
