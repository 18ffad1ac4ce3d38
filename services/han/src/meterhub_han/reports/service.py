"""HAN devices by status type and by TDSP territory (seed 002 section 7.4)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.errors import Unprocessable
from meterhub_common.models.han import SLOT_STATUSES, DeviceStatus
from meterhub_han.market.repository import tdsp_names
from meterhub_han.reports.repository import device_counts
from meterhub_han.reports.schemas import DeviceReport, StatusCount, TerritoryCount


async def device_report(session: AsyncSession, as_of: datetime | None) -> DeviceReport:
    now = datetime.now(UTC)
    if as_of is not None and as_of.tzinfo is None:
        raise Unprocessable("as_of must carry a UTC offset")
    counts = await device_counts(session, None if as_of is None or as_of >= now else as_of)
    names = await tdsp_names(session)
    by_status: dict[str, int] = defaultdict(int)
    by_tdsp: dict[str, dict[str, int]] = defaultdict(lambda: {s.value: 0 for s in DeviceStatus})
    for tdsp_duns, status, count in counts:
        by_status[status] += count
        by_tdsp[tdsp_duns][status] += count
    return DeviceReport(
        as_of=as_of or now,
        total_devices=sum(by_status.values()),
        slot_taking_devices=sum(by_status[s.value] for s in SLOT_STATUSES),
        by_status=[
            StatusCount(status=s.value, takes_slot=s in SLOT_STATUSES, count=by_status[s.value])
            for s in DeviceStatus
        ],
        by_tdsp=[
            TerritoryCount(
                tdsp_duns=duns,
                tdsp_name=names.get(duns),
                total=sum(statuses.values()),
                by_status=statuses,
            )
            for duns, statuses in sorted(by_tdsp.items())
        ],
    )
