"""Interval records in ERCOT's LSE layout (Retail Market Guide section 9, Appendix G).

The layout of ERCOT's example record, as the ingest service reads it: every optional field
keeps its comma, the 00000002 meter attributes are the example's constants with 900 seconds
per interval and unit 01 (kWh), and each detail row holds four ``value,status,`` cells and a
trailing comma; a missing interval is blank. The 00000030 pairs name the TDSP as meter
reading entity and sender and the report's requester as receiver.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime

import asyncpg

from meterhub_common.domain.operating_day import CENTRAL

MAX_RECORDS_PER_FILE = 50_000
"""ERCOT's limit per LSE file; a larger report is split into numbered files."""


def _cells(values: Sequence[str | None], statuses: str, first: int) -> str:
    cells = []
    for i in range(first, min(first + 4, len(values))):
        value = values[i]
        flag = statuses[i] if i < len(statuses) else "-"
        if value is None or flag not in ("A", "E"):
            cells.append(",,," if value is None else f"{value},,,")
        else:
            cells.append(f"{value},{flag},,")
    return "".join(cells)


def record_lines(
    *,
    esiid: str,
    channel: int,
    day: date,
    values: Sequence[str | None],
    statuses: str,
    created_at: datetime,
    transaction_id: str,
    tdsp_duns: str,
    receiver_duns: str,
) -> Iterator[str]:
    ymd = f"{day.year:04d}{day.month:02d}{day.day:02d}"
    yield f"00000001,{esiid},{channel},{ymd}000000,{ymd}235900,Y,N"
    yield "00000002,0,0,0,,0,,900,01,1,-1,0.0,0.0,CST"
    yield f"00000003,{transaction_id}"
    yield f"00000004,{created_at.astimezone(CENTRAL):%Y%m%d%H%M%S},M"
    yield (
        f"00000030,ATTRIBUTE_VALUE_PAIRS,MRE={tdsp_duns},Sender={tdsp_duns},"
        f"Receiver={receiver_duns}"
    )
    for row, first in enumerate(range(0, len(values), 4)):
        yield f"{10000000 + row},{_cells(values, statuses, first)}"


def render_records(rows: Sequence[asyncpg.Record], receiver_duns: str) -> bytes:
    lines: list[str] = []
    for row in rows:
        lines.extend(
            record_lines(
                esiid=row["esiid"],
                channel=row["channel"],
                day=row["operating_day"],
                values=row["kwh"],
                statuses=row["statuses"],
                created_at=row["record_created_at"],
                transaction_id=row["transaction_id"],
                tdsp_duns=row["tdsp_duns"],
                receiver_duns=receiver_duns,
            )
        )
    return ("\r\n".join(lines) + "\r\n").encode() if lines else b""
