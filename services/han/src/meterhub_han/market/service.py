"""Who may act on an ESI ID: only its current REP of record.

An ESI ID the caller does not serve today is answered exactly like one that does not exist,
so REPs cannot probe which ESI IDs are in the market or who serves them.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.domain import InvalidIdentifier, today_central, validate_esiid
from meterhub_common.errors import NotFound, Unprocessable
from meterhub_han.market.repository import RepScope, rep_scope


def not_served(esiid: str) -> NotFound:
    return NotFound(f"ESI ID {esiid} is not one you serve as REP of record")


async def require_rep_of_record(
    session: AsyncSession, esiid: str, rep_duns: str, *, lock: bool = False
) -> RepScope:
    """The caller's scope on ``esiid``; ``lock`` also serializes device decisions on it."""
    try:
        esiid = validate_esiid(esiid)
    except InvalidIdentifier as exc:
        raise Unprocessable(str(exc)) from exc
    scope = await rep_scope(session, esiid, rep_duns, today_central(), lock=lock)
    if scope is None:
        raise not_served(esiid)
    return scope


def choose_meter(scope: RepScope, meter_number: str | None) -> str:
    """The meter a request is for: the one given, or the ESI ID's only active meter."""
    if meter_number is not None:
        if meter_number not in scope.meters:
            raise NotFound(f"ESI ID {scope.esiid} has no active meter {meter_number}")
        return meter_number
    if len(scope.meters) == 1:
        return scope.meters[0]
    if not scope.meters:
        raise Unprocessable(f"ESI ID {scope.esiid} has no active meter to provision to")
    raise Unprocessable(
        f"ESI ID {scope.esiid} has {len(scope.meters)} active meters: give MeterNumber"
    )
