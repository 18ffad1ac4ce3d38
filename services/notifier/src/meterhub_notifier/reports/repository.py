"""Read-only SQL over other services' tables for the monthly report.

ingest owns ``tdsp_files``, ``usage_change_events``, ``interval_reads`` and ``esiids``;
ftps-publisher owns ``ftps_published_files``. Nothing here writes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.models.ftps_publisher import PublishedFile
from meterhub_common.models.ingest import (
    EsiId,
    FileKind,
    FileStatus,
    IntervalRead,
    TdspFile,
    UsageChangeEvent,
)


@dataclass(frozen=True)
class FileTiming:
    file_id: uuid.UUID
    sender_duns: str
    received_at: datetime
    queryable_at: datetime
    # When the last REP folder got the file's data; None if some REP has not got it yet.
    in_ftps_at: datetime | None
    rep_days: int


async def file_timings(session: AsyncSession, start: datetime, end: datetime) -> list[FileTiming]:
    """LSE files received in [start, end) and loaded: received, queryable, in every REP folder."""
    files = (
        await session.execute(
            select(TdspFile.id, TdspFile.sender_duns, TdspFile.received_at, TdspFile.finished_at)
            .where(
                TdspFile.kind == FileKind.LSE.value,
                TdspFile.received_at >= start,
                TdspFile.received_at < end,
                TdspFile.status.in_([FileStatus.LOADED.value, FileStatus.PARTIALLY_LOADED.value]),
                TdspFile.finished_at.is_not(None),
            )
            .order_by(TdspFile.received_at)
        )
    ).all()
    if not files:
        return []
    placed_at = (
        select(func.min(PublishedFile.placed_at))
        .where(
            PublishedFile.rep_duns == UsageChangeEvent.rep_duns,
            PublishedFile.operating_day == UsageChangeEvent.operating_day,
            PublishedFile.kind == "interval",
            or_(
                PublishedFile.last_event_id >= UsageChangeEvent.id,
                and_(
                    PublishedFile.last_event_id.is_(None),
                    PublishedFile.placed_at >= UsageChangeEvent.created_at,
                ),
            ),
        )
        .correlate(UsageChangeEvent)
        .scalar_subquery()
    )
    per_event = (
        select(UsageChangeEvent.file_id.label("file_id"), placed_at.label("placed_at"))
        .where(UsageChangeEvent.file_id.in_([f.id for f in files]))
        .subquery()
    )
    rows = await session.execute(
        select(
            per_event.c.file_id,
            func.count(),
            func.count(per_event.c.placed_at),
            func.max(per_event.c.placed_at),
        ).group_by(per_event.c.file_id)
    )
    placement = {file_id: (events, placed, last) for file_id, events, placed, last in rows.all()}
    result = []
    for f in files:
        events, placed, last = placement.get(f.id, (0, 0, None))
        result.append(
            FileTiming(
                file_id=f.id,
                sender_duns=f.sender_duns,
                received_at=f.received_at,
                queryable_at=f.finished_at,
                in_ftps_at=last if events and placed == events else None,
                rep_days=events,
            )
        )
    return result


@dataclass(frozen=True)
class TdspQuality:
    tdsp_duns: str
    esiids: int
    esiid_days_present: int
    actual_intervals: int
    estimated_intervals: int
    missing_intervals: int


async def data_quality(session: AsyncSession, first_day: date, last_day: date) -> list[TdspQuality]:
    """Current consumption and generation reads of the days [first_day, last_day] per TDSP."""

    def count_of(letter: str) -> ColumnElement[int]:
        return func.coalesce(
            func.sum(
                func.length(IntervalRead.statuses)
                - func.length(func.replace(IntervalRead.statuses, letter, ""))
            ),
            0,
        )

    reads = (
        await session.execute(
            select(
                EsiId.tdsp_duns,
                func.count().filter(IntervalRead.channel == 4),
                count_of("A"),
                count_of("E"),
                count_of("-"),
            )
            .join(EsiId, EsiId.esiid == IntervalRead.esiid)
            .where(
                IntervalRead.is_current,
                IntervalRead.operating_day >= first_day,
                IntervalRead.operating_day <= last_day,
            )
            .group_by(EsiId.tdsp_duns)
        )
    ).all()
    esiids = dict(
        (
            await session.execute(select(EsiId.tdsp_duns, func.count()).group_by(EsiId.tdsp_duns))
        ).all()
    )
    by_tdsp = {row[0]: row for row in reads}
    result = []
    for tdsp in sorted(set(esiids) | set(by_tdsp)):
        row = by_tdsp.get(tdsp)
        result.append(
            TdspQuality(
                tdsp_duns=tdsp,
                esiids=int(esiids.get(tdsp, 0)),
                esiid_days_present=int(row[1]) if row else 0,
                actual_intervals=int(row[2]) if row else 0,
                estimated_intervals=int(row[3]) if row else 0,
                missing_intervals=int(row[4]) if row else 0,
            )
        )
    return result
