"""``/v1/reports``: order an ad-hoc report (202), follow it, list your reports."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from meterhub_common.db import Session
from meterhub_common.models.usage_api import Role
from meterhub_usage_api.openapi import BEARER_SECURITY, error_responses
from meterhub_usage_api.reports import repository as repo
from meterhub_usage_api.reports import service
from meterhub_usage_api.reports.schemas import ReportIn, ReportList, ReportOut
from meterhub_usage_api.security import Caller
from meterhub_usage_api.settings import UsageApiSettings

router = APIRouter(prefix="/v1/reports", tags=["reports"])


@router.post(
    "",
    status_code=202,
    response_model=ReportOut,
    summary="Order an ad-hoc report (interval, daily or monthly) for up to 50,000 ESI IDs",
    description=(
        "Answers 202 with the report's id at once; a durable worker builds the file from "
        "the days the requester may see and the FTPS publisher places it (zipped and "
        "encrypted to the REP's key) in the requester's folder, kept 10 days. Follow it with "
        "`GET /v1/reports/{id}` (also in `Location`). ESI IDs the requester may not see are "
        "listed in `excluded_esiids`, never silently dropped. More than 50,000 ESI IDs: 422."
    ),
    responses={
        202: {"headers": {"Location": {"schema": {"type": "string"}}}},
        **error_responses(401, 403, 422, 429),
    },
    openapi_extra=BEARER_SECURITY,
)
async def order_report(
    request: Request, body: ReportIn, session: Session, principal: Caller
) -> JSONResponse:
    settings: UsageApiSettings = request.app.state.settings
    report_id = await service.create(
        session, principal, body, max_esiids=settings.report_max_esiids
    )
    await session.commit()
    row = await service.visible_report(session, principal, report_id)
    view = ReportOut.model_validate(await service.view(session, row, with_excluded=False))
    return JSONResponse(
        view.model_dump(mode="json"),
        status_code=202,
        headers={"Location": f"/v1/reports/{report_id}"},
    )


@router.get(
    "/{report_id}",
    response_model=ReportOut,
    summary="A report's status, counts, files and excluded ESI IDs",
    responses=error_responses(401, 404, 422, 429),
    openapi_extra=BEARER_SECURITY,
)
async def get_report(
    report_id: Annotated[uuid.UUID, Path()], session: Session, principal: Caller
) -> dict[str, Any]:
    row = await service.visible_report(session, principal, report_id)
    return await service.view(session, row, with_excluded=True)


@router.get(
    "",
    response_model=ReportList,
    summary="Your reports, newest first (operators: everybody's)",
    responses=error_responses(401, 422, 429),
    openapi_extra=BEARER_SECURITY,
)
async def list_reports(
    session: Session,
    principal: Caller,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    owner = None if principal.role is Role.OPERATOR else principal.entity_id
    rows = await repo.reports_of(session, owner, limit)
    return {"reports": [await service.view(session, row, with_excluded=False) for row in rows]}
