"""TDSP status reports: find the request, check the state machine, apply or refuse and log.

A TDSP only ever sees its own requests: a request id of another territory is answered like
an unknown one. A refused report is recorded in han_refused_reports (for the operators) and
logged; nothing about the device or message changes.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.errors import NotFound, Unprocessable
from meterhub_common.models.han import DeviceStatus, MessageStatusCode
from meterhub_han.callback import repository as repo
from meterhub_han.callback.schemas import StatusReport
from meterhub_han.devices import repository as devices_repo
from meterhub_han.devices import service as devices
from meterhub_han.errors import InvalidTransition
from meterhub_han.messages import repository as messages_repo
from meterhub_han.messages import service as messages
from meterhub_han.messages.states import DESCRIPTIONS
from meterhub_han.status import ReportOutcome

log = logging.getLogger(__name__)


async def _refuse(
    session: AsyncSession,
    tdsp_duns: str,
    report: StatusReport,
    current: str | None,
    reason: str,
    error: type[InvalidTransition] | type[Unprocessable] = InvalidTransition,
) -> InvalidTransition | Unprocessable:
    await session.rollback()
    await repo.record_refusal(
        session,
        tdsp_duns=tdsp_duns,
        reference_id=report.request_id,
        device_mac=report.device_mac,
        reported_status=report.status,
        current_status=current,
        reason=reason,
    )
    await session.commit()
    log.warning(
        "refused TDSP status report",
        extra={
            "tdsp_duns": tdsp_duns,
            "han_request_id": report.request_id,
            "reported_status": report.status,
            "current_status": current,
            "reason": reason,
        },
    )
    return error(f"status report for {report.request_id} refused: {reason}")


async def apply_report(
    session: AsyncSession, tdsp_duns: str, report: StatusReport
) -> ReportOutcome:
    at = report.timestamp or datetime.now(UTC)
    device = (
        await devices_repo.find_by_request(session, report.request_id, tdsp_duns)
        if report.request_id.startswith("R")
        else None
    )
    if device is not None:
        if report.device_mac is not None:
            raise await _refuse(
                session,
                tdsp_duns,
                report,
                device.status,
                "device_mac belongs to message reports, not to device requests",
                Unprocessable,
            )
        try:
            reported_device = DeviceStatus(report.status)
        except ValueError:
            raise await _refuse(
                session,
                tdsp_duns,
                report,
                device.status,
                f"{report.status!r} is not a HAN device status",
                Unprocessable,
            ) from None
        outcome = await devices.apply_tdsp_status(
            session,
            device,
            request_id=report.request_id,
            reported=reported_device,
            description=report.description or f"Reported by TDSP: {reported_device.value}",
            at=at,
        )
    else:
        message = await messages_repo.find_for_update(session, report.request_id, tdsp_duns)
        if message is None:
            raise NotFound(f"no request {report.request_id} was sent to your head-end")
        try:
            reported_code = MessageStatusCode(report.status)
        except ValueError:
            raise await _refuse(
                session,
                tdsp_duns,
                report,
                message.status,
                f"{report.status!r} is not a message status code",
                Unprocessable,
            ) from None
        try:
            outcome = await messages.apply_tdsp_status(
                session,
                message,
                reported=reported_code,
                device_mac=report.device_mac,
                description=report.description or DESCRIPTIONS[reported_code],
                at=at,
            )
        except Unprocessable as exc:
            raise await _refuse(
                session, tdsp_duns, report, message.status, exc.detail, Unprocessable
            ) from exc
    if outcome.refused is not None:
        raise await _refuse(session, tdsp_duns, report, outcome.current, outcome.refused)
    await session.commit()
    return outcome
