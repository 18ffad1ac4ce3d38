"""Write records out in the LSE layout, and make realistic synthetic records.

``render_lse`` is the inverse of ``parse_lse``: ``parse_lse(render_lse(records))`` yields records
equal to ``records``. It writes the layout of ERCOT's example record: every optional field keeps
its comma, the 00000002 meter attributes the parser does not keep are written as the example's
constants, and each detail row carries four ``value,status,`` cells and a trailing comma.
Tests, the benchmark and the demo data use it to make files.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from typing import Final

from meterhub_common.domain import CENTRAL, intervals, validate_duns, validate_esiid
from meterhub_ingest.lse.parser import CONSUMPTION, GENERATION, ParsedRecord

__all__ = ["ERCOT_DUNS", "render_lse", "synthetic_record"]

ERCOT_DUNS: Final = "183529049"
"""The Receiver of every LSE record (ERCOT), as in ERCOT's example."""


def render_lse(records: Iterable[ParsedRecord]) -> Iterator[str]:
    """Yield the lines (without line ends) of an LSE file holding ``records`` in order."""
    for record in records:
        values, statuses = record.values, record.statuses
        if len(values) != len(statuses):
            raise ValueError(
                f"record for {record.esiid} has {len(values)} values but {len(statuses)} statuses"
            )
        day = record.operating_day
        ymd = f"{day.year:04d}{day.month:02d}{day.day:02d}"
        dst = "Y" if record.dst_participant else "N"
        yield f"00000001,{record.esiid},{record.channel},{ymd}000000,{ymd}235900,{dst},N"
        yield (
            f"00000002,0,0,0,,0,,{record.seconds_per_interval},{record.unit_code},1,-1,0.0,0.0,"
            f"{record.time_zone}"
        )
        yield f"00000003,{record.transaction_id}"
        created = record.created_at.astimezone(CENTRAL)
        yield f"00000004,{created:%Y%m%d%H%M%S},{record.origin}"
        if record.attributes:
            pairs = ",".join(f"{name}={value}" for name, value in record.attributes)
            yield f"00000030,ATTRIBUTE_VALUE_PAIRS,{pairs}"
        for row, first in enumerate(range(0, len(values), 4)):
            cells = "".join(
                ",,," if values[i] is None else f"{values[i]},{statuses[i]},,"
                for i in range(first, min(first + 4, len(values)))
            )
            yield f"{10000000 + row},{cells}"


def _kwh(thousandths: int) -> str:
    """Canonical decimal text of a non-negative number of thousandths of a kWh."""
    whole, part = divmod(thousandths, 1000)
    fraction = f"{part:03d}".rstrip("0")
    return f"{whole}.{fraction}" if fraction else str(whole)


def _consumption_shape(hour: float) -> float:
    # A Texas household: low overnight, a morning bump, air conditioning through the afternoon
    # and an evening peak.
    morning = math.exp(-(((hour - 7.5) / 1.5) ** 2))
    afternoon = math.exp(-(((hour - 17.5) / 3.0) ** 2))
    return 0.35 + 0.5 * morning + 1.4 * afternoon


def _generation_shape(hour: float) -> float:
    # Rooftop solar surplus: nothing at night, a midday hump that self-consumption trims.
    if not 7.0 < hour < 19.5:
        return 0.0
    return max(0.0, math.sin(math.pi * (hour - 7.0) / 12.5) - 0.15)


def synthetic_record(
    esiid: str,
    channel: int,
    day: date,
    *,
    created_at: datetime,
    rng: random.Random,
    estimated_share: float = 0.02,
    sender: str,
    rep: str,
) -> ParsedRecord:
    """Make a realistic, valid record: 15-minute kWh with three decimals, A and some E.

    Channel 4 follows a household load curve, channel 1 a rooftop-solar surplus curve. Each
    hour is estimated (its four intervals "E") with probability ``estimated_share``, as when a
    meter misses a read. ``created_at`` (aware) is kept to the second, in Central time, as the
    00000004 row carries it. ``line`` is 0: the record comes from no file.
    """
    esiid = validate_esiid(esiid)
    sender = validate_duns(sender)
    rep = validate_duns(rep)
    if channel not in (CONSUMPTION, GENERATION):
        raise ValueError(f"channel {channel} is not 1 (generation) or 4 (consumption)")
    if created_at.tzinfo is None:
        raise ValueError("created_at must be an aware datetime")
    shape = _consumption_shape if channel == CONSUMPTION else _generation_shape
    scale = rng.uniform(150.0, 450.0) if channel == CONSUMPTION else rng.uniform(200.0, 900.0)
    values: list[str | None] = []
    statuses: list[str] = []
    estimated = False
    for interval in intervals(day):
        if interval.position % 4 == 0:
            estimated = rng.random() < estimated_share
        hour = interval.start.hour + interval.start.minute / 60.0
        thousandths = round(scale * shape(hour) * rng.uniform(0.75, 1.25))
        values.append(_kwh(max(0, thousandths)))
        statuses.append("E" if estimated else "A")
    return ParsedRecord(
        line=0,
        esiid=esiid,
        channel=channel,
        operating_day=day,
        dst_participant=True,
        seconds_per_interval=900,
        unit_code="01",
        time_zone="CST",
        transaction_id=f"{sender}{day:%Y%m%d}{rng.getrandbits(48):012X}",
        created_at=created_at.astimezone(CENTRAL).replace(microsecond=0),
        origin="M",
        attributes=(("MRE", sender), ("Sender", sender), ("Receiver", ERCOT_DUNS), ("REP", rep)),
        values=tuple(values),
        statuses="".join(statuses),
    )
