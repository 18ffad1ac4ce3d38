"""``POST /v1/tdsp/status``: a TDSP head-end reports a request's progress.

Authenticated with a TDSP client's bearer token (client credentials at the usage API's token
endpoint); the token's DUNS must be the TDSP the request went to.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from meterhub_common.auth import Principal, require_roles
from meterhub_common.db import Session
from meterhub_common.errors import Forbidden
from meterhub_common.models.usage_api import Role
from meterhub_han.callback.schemas import StatusReport, StatusReportResult
from meterhub_han.callback.service import apply_report

router = APIRouter(prefix="/v1/tdsp", tags=["tdsp callback"])

TdspPrincipal = Annotated[Principal, require_roles(Role.TDSP)]


@router.post(
    "/status",
    summary="Report the status of a HAN device request or message",
    responses={
        404: {"description": "no such request was sent to this TDSP"},
        409: {"description": "the status does not follow from the current one (refused)"},
        422: {"description": "the status is not a known status for this request"},
    },
)
async def report_status(
    report: StatusReport, session: Session, principal: TdspPrincipal
) -> StatusReportResult:
    if not principal.duns:
        raise Forbidden("this TDSP client has no DUNS")
    outcome = await apply_report(session, principal.duns, report)
    return StatusReportResult(
        request_id=report.request_id, status=outcome.current, applied=outcome.applied
    )
