"""How far back each role may look, and which roles may read every version.

From seed 004 ("Availability of Data"): intervals and daily meter reads 48 months back for REPs
and TDSPs, 13 months for customers, friends and regulatory users; monthly billed usage 24
months for everyone. Premise and meter data follow the interval window: a REP sees an ESI ID's
premise while it is, or within 48 months was, its REP of record.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from meterhub_common.auth import Principal
from meterhub_common.models.usage_api import Role


class DataKind(StrEnum):
    INTERVALS = "intervals"
    DAILY = "daily"
    MONTHLY = "monthly"
    PREMISE = "premise"


_MARKET_MONTHS = 48
_CUSTOMER_MONTHS = 13
_MONTHLY_MONTHS = 24

_LOOKBACK_MONTHS: Mapping[Role, int] = {
    Role.TDSP: _MARKET_MONTHS,
    Role.REP: _MARKET_MONTHS,
    Role.CUSTOMER: _CUSTOMER_MONTHS,
    Role.CSP: _CUSTOMER_MONTHS,
    Role.REGULATOR: _CUSTOMER_MONTHS,
}

ALL_VERSIONS_ROLES = frozenset({Role.REP, Role.TDSP})
"""The design: REPs and TDSPs may read all versions; everybody else sees the current one."""


def months_before(day: date, months: int) -> date:
    """The same day ``months`` earlier, clamped to the month's end (31 March -> 28 February)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def lookback_months(role: Role, kind: DataKind) -> int | None:
    """How many months back ``role`` may read ``kind``; None if it reads no per-ESI ID data."""
    months = _LOOKBACK_MONTHS.get(role)
    if months is None:
        return None
    return _MONTHLY_MONTHS if kind is DataKind.MONTHLY else months


def floor_day(role: Role, kind: DataKind, today: date) -> date:
    """The first operating day ``role`` may read; roles with no window get a day after today."""
    months = lookback_months(role, kind)
    if months is None:
        return today + timedelta(days=1)
    return months_before(today, months)


@dataclass(frozen=True, slots=True)
class Viewer:
    """The principal as the access subquery needs it, with the day the rules are checked on."""

    principal: Principal
    today: date

    def params(self, esiid: str) -> dict[str, Any]:
        return {
            "esiid": esiid,
            "duns": self.principal.duns or "",
            "entity_id": self.principal.entity_id,
            "today": self.today,
        }
