"""``GET /v1/reports/devices``: HAN devices by status type and by TDSP territory."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from meterhub_common.auth import Principal, require_roles
from meterhub_common.db import Session
from meterhub_common.models.usage_api import Role
from meterhub_han.reports.schemas import DeviceReport
from meterhub_han.reports.service import device_report

router = APIRouter(prefix="/v1/reports", tags=["reports"])

ReportReader = Annotated[Principal, require_roles(Role.OPERATOR, Role.REGULATOR, Role.SERVICE)]


@router.get(
    "/devices",
    summary="HAN devices by status type and by TDSP territory (seed 002, 7.4)",
)
async def devices_report(
    session: Session,
    _: ReportReader,
    as_of: Annotated[
        datetime | None,
        Query(description="count statuses as they stood at this moment (default: now)"),
    ] = None,
) -> DeviceReport:
    return await device_report(session, as_of)
