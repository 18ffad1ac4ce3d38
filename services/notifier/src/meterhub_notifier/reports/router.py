"""HTTP: ``/v1/reports/monthly`` (JSON, or CSV with ``Accept: text/csv``) and the PNG chart."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from meterhub_common.auth import CurrentPrincipal
from meterhub_common.db import Session
from meterhub_notifier.availability.router import MONTH, month_or_current
from meterhub_notifier.reports.render import report_csv, report_png
from meterhub_notifier.reports.service import monthly_report

router = APIRouter(prefix="/v1/reports", tags=["reports"])


async def _report(request: Request, session: Session, month: str | None) -> dict[str, Any]:
    chosen = month_or_current(request, month)
    state = request.app.state
    return await monthly_report(
        session, state.settings, chosen, state.clock.now(), state.han_devices
    )


@router.get(
    "/monthly",
    summary="The monthly SLO report (seed 002 sections 3.4, 4.4, 5.4, 7.4)",
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
)
async def monthly(
    request: Request, session: Session, _: CurrentPrincipal, month: str | None = MONTH
) -> Response:
    report = await _report(request, session, month)
    if "text/csv" in request.headers.get("accept", ""):
        return Response(
            report_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="meterhub-slo-{report["month"]}.csv"'
            },
        )
    return JSONResponse(report)


@router.get(
    "/monthly.png",
    summary="Chart: daily availability per service and daily time to market",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
async def monthly_png(
    request: Request, session: Session, _: CurrentPrincipal, month: str | None = MONTH
) -> Response:
    report = await _report(request, session, month)
    png = await asyncio.to_thread(report_png, report)
    return Response(png, media_type="image/png")
