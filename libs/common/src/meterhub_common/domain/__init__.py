"""Domain primitives every service must agree on: identifiers and operating-day arithmetic."""

from meterhub_common.domain.ids import (
    ESIID_MAX_LENGTH,
    TDSP_ESIID_PREFIXES,
    InvalidIdentifier,
    tdsp_for_esiid,
    validate_duns,
    validate_esiid,
)
from meterhub_common.domain.operating_day import (
    CENTRAL,
    INTERVAL,
    Interval,
    day_bounds,
    interval_end,
    interval_start,
    intervals,
    intervals_in_day,
    operating_day_of,
    position_of,
    today_central,
)

__all__ = [
    "CENTRAL",
    "ESIID_MAX_LENGTH",
    "INTERVAL",
    "TDSP_ESIID_PREFIXES",
    "Interval",
    "InvalidIdentifier",
    "day_bounds",
    "interval_end",
    "interval_start",
    "intervals",
    "intervals_in_day",
    "operating_day_of",
    "position_of",
    "tdsp_for_esiid",
    "today_central",
    "validate_duns",
    "validate_esiid",
]
