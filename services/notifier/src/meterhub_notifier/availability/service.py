"""Recording probe minutes, opening and closing incidents, computing availability."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.domain.operating_day import CENTRAL
from meterhub_common.models.notifier import Incident, LedgerState, MaintenanceWindow
from meterhub_notifier.availability import repository
from meterhub_notifier.availability.arithmetic import (
    Counts,
    Tally,
    classify,
    combine,
    floor_minute,
    maintenance_minutes,
    minute_number,
    month_bounds,
    tally,
)
from meterhub_notifier.clock import Clock
from meterhub_notifier.notices.repository import windows_overlapping
from meterhub_notifier.notices.service import NoticeService
from meterhub_notifier.settings import PROBED_SERVICES, NotifierSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    latency_ms: int | None
    error: str | None = None


def market_services_of(settings: NotifierSettings, service: str) -> list[str]:
    return list(settings.service_market_map.get(service, []))


def components_of(settings: NotifierSettings) -> dict[str, list[str]]:
    """Market service -> the deployments it is built of (the inverse of the map)."""
    result: dict[str, list[str]] = {}
    for deployment, markets in settings.service_market_map.items():
        for market in markets:
            result.setdefault(market, []).append(deployment)
    return result


def _effective(window: MaintenanceWindow) -> tuple[datetime, datetime] | None:
    end = min(window.ends_at, window.cancelled_at) if window.cancelled_at else window.ends_at
    return (window.starts_at, end) if end > window.starts_at else None


def windows_for(
    windows: list[MaintenanceWindow], market_services: list[str]
) -> list[tuple[datetime, datetime]]:
    wanted = set(market_services)
    result = []
    for window in windows:
        period = _effective(window)
        if period and wanted.intersection(window.services):
            result.append(period)
    return result


class LedgerService:
    """Writes the minute ledger and acts on it: incidents and their notices."""

    def __init__(self, session: AsyncSession, settings: NotifierSettings, clock: Clock) -> None:
        self.session = session
        self.settings = settings
        self.clock = clock
        self.notices_issued = 0

    async def record(
        self, service: str, minute: datetime, result: ProbeResult
    ) -> LedgerState | None:
        """Record one probed minute; returns its state, or None if a replica recorded it first."""
        minute = floor_minute(minute)
        windows = await windows_overlapping(self.session, minute, minute + timedelta(minutes=1))
        in_maintenance = bool(windows_for(windows, market_services_of(self.settings, service)))
        if in_maintenance:
            state = LedgerState.MAINTENANCE
        else:
            state = LedgerState.UP if result.ok else LedgerState.DOWN
        inserted = await repository.insert_minute(
            self.session,
            service=service,
            minute=minute,
            state=state.value,
            probe_ok=result.ok,
            latency_ms=result.latency_ms,
            error=result.error,
            now=self.clock.now(),
        )
        if not inserted:
            return None
        await self._evaluate(service, minute, result)
        return state

    async def _evaluate(self, service: str, minute: datetime, result: ProbeResult) -> None:
        await repository.lock_service(self.session, service)
        incident = await repository.open_incident(self.session, service)
        if incident is None:
            needed = self.settings.incident_threshold_minutes
            run = await self._run_of(service, minute, needed)
            if run and all(state == LedgerState.DOWN for state in run):
                await self._open(service, minute - timedelta(minutes=needed - 1), result, needed)
        else:
            if not result.ok and result.error:
                incident.last_error = result.error[:2000]
            needed = self.settings.incident_recovery_minutes
            run = await self._run_of(service, minute, needed)
            if run and all(state == LedgerState.UP for state in run):
                await self._close(incident, minute - timedelta(minutes=needed - 1))

    async def _run_of(self, service: str, minute: datetime, length: int) -> list[str] | None:
        """States of the ``length`` minutes ending at ``minute``, if all were recorded."""
        start = minute - timedelta(minutes=length - 1)
        rows = await repository.minutes_between(
            self.session, service, start, minute + timedelta(minutes=1)
        )
        return [state for _, state, _ in rows] if len(rows) == length else None

    async def _open(
        self, service: str, started_at: datetime, result: ProbeResult, minutes: int
    ) -> None:
        now = self.clock.now()
        incident = Incident(
            id=uuid.uuid4(),
            service=service,
            started_at=started_at,
            opened_at=now,
            last_error=result.error[:2000] if result.error else None,
        )
        await repository.add_incident(self.session, incident)
        issued = await NoticeService(self.session, self.settings, self.clock).incident_opened(
            incident, market_services_of(self.settings, service), minutes
        )
        incident.thread_id = issued.thread.id
        self.notices_issued += 1
        log.error(
            "incident opened; unplanned outage notice issued",
            extra={
                "service": service,
                "incident_id": str(incident.id),
                "notice_id": issued.notice.notice_id,
                "since": started_at.isoformat(),
                "error": result.error,
            },
        )

    async def _close(self, incident: Incident, ended_at: datetime) -> None:
        incident.ended_at = ended_at
        incident.closed_at = self.clock.now()
        issued = await NoticeService(self.session, self.settings, self.clock).incident_resolved(
            incident
        )
        if issued:
            self.notices_issued += 1
        log.warning(
            "incident closed",
            extra={
                "service": incident.service,
                "incident_id": str(incident.id),
                "notice_id": issued.notice.notice_id if issued else None,
                "minutes": int((ended_at - incident.started_at).total_seconds() // 60),
            },
        )


# --- monthly computation -----------------------------------------------------------------------


@dataclass
class SubjectAvailability:
    subject: str
    kind: str  # "deployment" or "market service"
    period_start: datetime | None
    period_end: datetime | None
    tally: Tally


@dataclass
class MonthAvailability:
    month: str
    start: datetime
    end: datetime
    deployments: list[SubjectAvailability]
    market_services: list[SubjectAvailability]


def parse_month(text: str) -> tuple[int, int]:
    try:
        year, month = (int(part) for part in text.split("-"))
        date(year, month, 1)
    except ValueError as exc:
        raise ValueError(f"month {text!r} is not like 2024-03") from exc
    return year, month


def _outcome_map(rows: list[tuple[datetime, bool]]) -> dict[int, bool]:
    return {minute_number(minute): ok for minute, ok in rows}


async def compute_month(
    session: AsyncSession, settings: NotifierSettings, month: str, now: datetime
) -> MonthAvailability:
    year, number = parse_month(month)
    start, end = month_bounds(year, number)
    # Minutes that have not happened yet are not part of the period.
    end_effective = max(start, min(end, floor_minute(now)))
    outcomes = await repository.outcomes_between(session, start, end_effective)
    firsts = await repository.first_minutes(session)
    windows = await windows_overlapping(session, start, end_effective)
    configured = {"notifier", *settings.service_urls, *settings.probe_credentials}
    deployments = [s for s in PROBED_SERVICES if s in configured or s in firsts]
    result = MonthAvailability(month, start, end_effective, [], [])
    maps: dict[str, dict[int, bool]] = {}
    for service in deployments:
        first = firsts.get(service)
        period_start = max(start, first) if first else None
        maps[service] = _outcome_map(outcomes.get(service, []))
        if period_start is None or period_start >= end_effective:
            result.deployments.append(
                SubjectAvailability(service, "deployment", None, None, Tally())
            )
            continue
        maintenance = maintenance_minutes(
            windows_for(windows, market_services_of(settings, service))
        )
        counted = tally(classify(period_start, end_effective, maps[service], maintenance))
        result.deployments.append(
            SubjectAvailability(service, "deployment", period_start, end_effective, counted)
        )
    for market, components in components_of(settings).items():
        measured = [c for c in components if c in firsts]
        if not measured:
            continue
        period_start = max(start, *(firsts[c] for c in measured))
        if period_start >= end_effective:
            continue
        maintenance = maintenance_minutes(windows_for(windows, [market]))
        counted = tally(
            classify(
                period_start,
                end_effective,
                combine([maps.get(c, {}) for c in measured]),
                maintenance,
            )
        )
        result.market_services.append(
            SubjectAvailability(market, "market service", period_start, end_effective, counted)
        )
    return result


def percent(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 4)


def counts_json(counts: Counts, settings: NotifierSettings) -> dict[str, Any]:
    objective = settings.objective_percent / 100
    policy = settings.unobserved_minutes
    availability = counts.availability(policy)
    allowed, remaining = counts.error_budget(objective, policy)
    return {
        "total_minutes": counts.total_minutes,
        "maintenance_minutes": counts.maintenance_minutes,
        "measured_minutes": counts.measured_minutes,
        "up_minutes": counts.up_minutes,
        "down_minutes": counts.down_minutes,
        "unobserved_minutes": counts.unobserved_minutes,
        "availability_percent": percent(availability),
        "objective_percent": settings.objective_percent,
        "objective_met": None if availability is None else availability >= objective,
        "error_budget_minutes": round(allowed, 2),
        "error_budget_remaining_minutes": round(remaining, 2),
    }


def subject_json(item: SubjectAvailability, settings: NotifierSettings) -> dict[str, Any]:
    policy = settings.unobserved_minutes
    return {
        "service": item.subject,
        "kind": item.kind,
        "period_start": item.period_start.astimezone(CENTRAL).isoformat()
        if item.period_start
        else None,
        "period_end": item.period_end.astimezone(CENTRAL).isoformat() if item.period_end else None,
        **counts_json(item.tally.total, settings),
        "days": [
            {
                "date": day.isoformat(),
                "availability_percent": percent(c.availability(policy)),
                **{k: v for k, v in c.__dict__.items()},
            }
            for day, c in sorted(item.tally.days.items())
        ],
    }


def month_json(result: MonthAvailability, settings: NotifierSettings) -> dict[str, Any]:
    return {
        "month": result.month,
        "time_zone": "America/Chicago",
        "period_start": result.start.astimezone(CENTRAL).isoformat(),
        "period_end": result.end.astimezone(CENTRAL).isoformat(),
        "definition": (
            "minutes available / total minutes excluding planned maintenance windows "
            f"(unobserved minutes: {settings.unobserved_minutes.value})"
        ),
        "services": [subject_json(s, settings) for s in result.deployments],
        "market_services": [subject_json(s, settings) for s in result.market_services],
    }
