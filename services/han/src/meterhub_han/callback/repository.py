"""All SQL on han_refused_reports."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_INSERT = text(
    """
    INSERT INTO han_refused_reports (tdsp_duns, reference_id, device_mac, reported_status,
                                     current_status, reason)
    VALUES (:tdsp_duns, :reference_id, :device_mac, :reported_status, :current_status, :reason)
    """
)


async def record_refusal(
    session: AsyncSession,
    *,
    tdsp_duns: str,
    reference_id: str,
    device_mac: str | None,
    reported_status: str,
    current_status: str | None,
    reason: str,
) -> None:
    await session.execute(
        _INSERT,
        {
            "tdsp_duns": tdsp_duns,
            "reference_id": reference_id,
            "device_mac": device_mac,
            "reported_status": reported_status[:200],
            "current_status": current_status,
            "reason": reason,
        },
    )
