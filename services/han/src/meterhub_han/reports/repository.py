"""All SQL of the HAN device reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_CURRENT = text("SELECT tdsp_duns, status, count(*) FROM han_devices GROUP BY tdsp_duns, status")

# A device's status at a past moment: the last history entry recorded by then.
_AS_OF = text(
    """
    SELECT d.tdsp_duns, h.status, count(*)
    FROM (SELECT DISTINCT ON (device_id) device_id, status
          FROM han_device_history
          WHERE recorded_at <= :as_of
          ORDER BY device_id, id DESC) h
    JOIN han_devices d ON d.id = h.device_id
    GROUP BY d.tdsp_duns, h.status
    """
)


async def device_counts(
    session: AsyncSession, as_of: datetime | None
) -> list[tuple[str, str, int]]:
    if as_of is None:
        result = await session.execute(_CURRENT)
    else:
        result = await session.execute(_AS_OF, {"as_of": as_of})
    return [(row[0], row[1], int(row[2])) for row in result.all()]
