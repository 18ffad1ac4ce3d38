"""The monthly report: availability, time to market, data quality, HAN devices, incidents."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.domain.operating_day import CENTRAL
from meterhub_notifier.availability import repository as ledger
from meterhub_notifier.availability.arithmetic import day_range, month_bounds
from meterhub_notifier.availability.service import compute_month, month_json, parse_month, percent
from meterhub_notifier.reports import repository
from meterhub_notifier.reports.peers import HanDevicesClient
from meterhub_notifier.settings import NotifierSettings


def _summary(seconds: Sequence[float]) -> dict[str, Any]:
    if not seconds:
        return {"count": 0, "median_seconds": None, "worst_seconds": None}
    return {
        "count": len(seconds),
        "median_seconds": round(statistics.median(seconds), 1),
        "worst_seconds": round(max(seconds), 1),
    }


def time_to_market(timings: list[repository.FileTiming]) -> dict[str, Any]:
    to_api = [(t.queryable_at - t.received_at).total_seconds() for t in timings]
    published = [t for t in timings if t.in_ftps_at is not None]
    to_ftps = [(t.in_ftps_at - t.received_at).total_seconds() for t in published if t.in_ftps_at]
    worst_api = max(timings, key=lambda t: t.queryable_at - t.received_at, default=None)
    worst_ftps = max(
        published, key=lambda t: (t.in_ftps_at or t.received_at) - t.received_at, default=None
    )
    return {
        "files": len(timings),
        "definition": (
            "LSE files received in the month and loaded: received -> queryable in the API "
            "(loading finished) -> in every affected REP's FTPS folder (interval file placed)"
        ),
        "to_api": {
            **_summary(to_api),
            "worst_file_id": str(worst_api.file_id) if worst_api else None,
        },
        "to_ftps": {
            **_summary(to_ftps),
            "worst_file_id": str(worst_ftps.file_id) if worst_ftps else None,
            "files_not_yet_in_every_folder": sum(
                1 for t in timings if t.in_ftps_at is None and t.rep_days
            ),
        },
    }


def data_quality(rows: list[repository.TdspQuality], days: int) -> dict[str, Any]:
    def share(estimated: int, actual: int) -> float | None:
        total = estimated + actual
        return None if total == 0 else round(100 * estimated / total, 4)

    tdsps = []
    for row in rows:
        expected = row.esiids * days
        tdsps.append(
            {
                "tdsp_duns": row.tdsp_duns,
                "esiids": row.esiids,
                "expected_esiid_days": expected,
                "esiid_days_present": row.esiid_days_present,
                "missing_esiid_days": max(0, expected - row.esiid_days_present),
                "actual_intervals": row.actual_intervals,
                "estimated_intervals": row.estimated_intervals,
                "missing_intervals": row.missing_intervals,
                "estimated_share_percent": share(row.estimated_intervals, row.actual_intervals),
            }
        )
    estimated = sum(r.estimated_intervals for r in rows)
    actual = sum(r.actual_intervals for r in rows)
    return {
        "days_counted": days,
        "definition": (
            "current interval reads of the month's operating days up to yesterday; estimated "
            "share = E / (A + E) intervals; an ESI ID-day is missing when an ESI ID of the TDSP "
            "has no current consumption read for the day"
        ),
        "estimated_intervals": estimated,
        "actual_intervals": actual,
        "missing_intervals": sum(r.missing_intervals for r in rows),
        "estimated_share_percent": share(estimated, actual),
        "missing_esiid_days": sum(t["missing_esiid_days"] for t in tdsps),
        "by_tdsp": tdsps,
    }


def daily_rows(
    days: list[date], availability: dict[str, Any], timings: list[repository.FileTiming]
) -> list[dict[str, Any]]:
    by_day: dict[date, list[float]] = {}
    ftps_by_day: dict[date, list[float]] = {}
    for t in timings:
        day = t.received_at.astimezone(CENTRAL).date()
        by_day.setdefault(day, []).append((t.queryable_at - t.received_at).total_seconds())
        if t.in_ftps_at:
            ftps_by_day.setdefault(day, []).append((t.in_ftps_at - t.received_at).total_seconds())
    per_service = {
        s["service"]: {d["date"]: d["availability_percent"] for d in s["days"]}
        for s in availability["services"]
    }
    rows = []
    for day in days:
        key = day.isoformat()
        rows.append(
            {
                "date": key,
                "availability_percent": {s: v.get(key) for s, v in per_service.items()},
                "time_to_api_median_seconds": (
                    round(statistics.median(by_day[day]), 1) if day in by_day else None
                ),
                "time_to_ftps_median_seconds": (
                    round(statistics.median(ftps_by_day[day]), 1) if day in ftps_by_day else None
                ),
            }
        )
    return rows


async def monthly_report(
    session: AsyncSession,
    settings: NotifierSettings,
    month: str,
    now: datetime,
    han: HanDevicesClient,
) -> dict[str, Any]:
    year, number = parse_month(month)
    start, end = month_bounds(year, number)
    computed = await compute_month(session, settings, month, now)
    availability = month_json(computed, settings)
    timings = await repository.file_timings(session, start, end)
    # Data for a day is complete the next day: count the month's days up to yesterday.
    last_complete = min(
        end.astimezone(CENTRAL).date() - timedelta(days=1),
        now.astimezone(CENTRAL).date() - timedelta(days=1),
    )
    first_day = start.astimezone(CENTRAL).date()
    quality_days = max(0, (last_complete - first_day).days + 1)
    quality = await repository.data_quality(session, first_day, last_complete)
    incidents = await ledger.list_incidents(
        session, service=None, start=start, end=end, open_only=False, limit=1000
    )
    days = (
        day_range(start, end)
        if end <= now
        else day_range(start, max(start + timedelta(minutes=1), now))
    )
    return {
        "month": month,
        "generated_at": now.astimezone(CENTRAL).isoformat(),
        "time_zone": "America/Chicago",
        "objective_percent": settings.objective_percent,
        "availability": {
            "definition": availability["definition"],
            "services": [
                {k: v for k, v in s.items() if k != "days"} for s in availability["services"]
            ],
            "market_services": [
                {k: v for k, v in s.items() if k != "days"} for s in availability["market_services"]
            ],
        },
        "time_to_market": time_to_market(timings),
        "data_quality": data_quality(quality, quality_days),
        "han_devices": await han.devices(as_of=min(end, now)),
        "incidents": [
            {
                "service": i.service,
                "started_at": i.started_at.astimezone(CENTRAL).isoformat(),
                "ended_at": i.ended_at.astimezone(CENTRAL).isoformat() if i.ended_at else None,
                "minutes": (
                    int((i.ended_at - i.started_at).total_seconds() // 60) if i.ended_at else None
                ),
            }
            for i in sorted(incidents, key=lambda i: i.started_at)
        ],
        "daily": daily_rows(days, availability, timings),
    }


__all__ = ["monthly_report", "percent"]
