"""Issuing notices: new threads, follow-ups, cancellations, reminders, incident notices.

Every notice is stored and queued for mail in the caller's transaction, so a notice exists
exactly when its mails do.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.domain.operating_day import CENTRAL
from meterhub_common.errors import Conflict, NotFound, Unprocessable
from meterhub_common.models.notifier import (
    Incident,
    MaintenanceWindow,
    Notice,
    NoticeThread,
    NoticeType,
    ThreadStatus,
)
from meterhub_notifier.clock import Clock
from meterhub_notifier.notices import repository
from meterhub_notifier.notices.calendar import (
    describe_instant,
    describe_period,
    earliest_allowed_start,
    next_window,
    within_window,
)
from meterhub_notifier.notices.ids import (
    MAX_SEQUENCE,
    next_letter,
    notice_id,
    split_notice_id,
    thread_code,
)
from meterhub_notifier.notices.render import render_text
from meterhub_notifier.notices.schemas import NoticeCancel, NoticeCreate, NoticeOut, NoticeUpdate
from meterhub_notifier.notices.types import AUDIENCES
from meterhub_notifier.outbox.service import enqueue_notice
from meterhub_notifier.settings import NotifierSettings

log = logging.getLogger(__name__)

AUTOMATIC = "notifier-probes"

SERVICE_DESCRIPTIONS = {
    "usage-api": "the usage API (energy, premise and meter data for the market)",
    "ingest": "the TDSP file interface (energy data files from the TDSPs)",
    "han": "the HAN gateway (device provisioning and messaging)",
    "ftps-publisher": "the FTPS site (daily interval files and ad-hoc reports)",
    "notifier": "the Market Notice service (notices API and feed)",
}


@dataclass
class Issued:
    notice: Notice
    thread: NoticeThread
    outside_window: bool | None = None


def to_out(issued: Issued, *, with_text: bool = False) -> NoticeOut:
    n, t = issued.notice, issued.thread
    return NoticeOut(
        notice_id=n.notice_id,
        thread=t.code,
        thread_status=t.status,
        sequence=n.sequence,
        notice_type=n.notice_type,
        reminder=n.is_reminder,
        notice_date=n.notice_date,
        issued_at=n.issued_at.astimezone(CENTRAL),
        issued_by=n.issued_by,
        short_description=n.short_description,
        intended_audience=n.intended_audience,
        affected_services=list(n.affected_services),
        days_affected=n.days_affected,
        starts_at=n.window_start.astimezone(CENTRAL) if n.window_start else None,
        ends_at=n.window_end.astimezone(CENTRAL) if n.window_end else None,
        long_description=n.long_description,
        action_required=n.action_required,
        additional_information=n.additional_information,
        contact=n.contact,
        listservs=list(n.listservs),
        emergency=n.emergency,
        cancels=n.cancels,
        text=render_text(n) if with_text else None,
        outside_maintenance_window=issued.outside_window,
    )


def _minute(instant: datetime) -> datetime:
    return instant.replace(second=0, microsecond=0)


class NoticeService:
    def __init__(self, session: AsyncSession, settings: NotifierSettings, clock: Clock) -> None:
        self.session = session
        self.settings = settings
        self.clock = clock

    # --- rules ------------------------------------------------------------------------------

    def _listservs(self, requested: list[str] | None) -> list[str]:
        if requested is None:
            return self.settings.distribution
        unknown = sorted(set(requested) - set(self.settings.listservs))
        if unknown or not requested:
            known = ", ".join(sorted(self.settings.listservs))
            raise Unprocessable(
                f"unknown listserv(s) {', '.join(unknown) or '(none given)'}; configured: {known}"
            )
        return list(dict.fromkeys(requested))

    def _check_planned(
        self, starts_at: datetime, ends_at: datetime, now: datetime, emergency: bool
    ) -> None:
        if starts_at < _minute(now):
            raise Unprocessable(
                f"the planned outage starts at {starts_at.astimezone(CENTRAL).isoformat()}, "
                "which has passed; "
                "announce an outage that has begun as an unplanned outage"
            )
        if emergency:
            return
        exempt = timedelta(minutes=self.settings.notice_exempt_minutes)
        if ends_at - starts_at <= exempt:
            return
        earliest = earliest_allowed_start(
            now, self.settings.business_days_notice, self.settings.holidays
        )
        if starts_at < earliest:
            earliest = earliest.astimezone(CENTRAL)
            raise Unprocessable(
                f"a planned outage longer than {self.settings.notice_exempt_minutes} minutes must "
                f"be announced at least {self.settings.business_days_notice} business days "
                f"ahead; issued now, it can start at {earliest.isoformat()} at the earliest "
                "(or mark it emergency)",
                earliest_allowed_start=earliest.isoformat(),
            )

    def _outside_window(self, starts_at: datetime, ends_at: datetime) -> bool:
        w = self.settings.window
        return not within_window(starts_at, ends_at, w.weekday, w.start, w.end)

    def _reminder_due(self, starts_at: datetime, now: datetime) -> datetime | None:
        due = starts_at - self.settings.reminder_lead
        return due if due > now else None

    # --- threads and notices ----------------------------------------------------------------

    async def _new_thread(self, kind: str, audience: str, now: datetime) -> NoticeThread:
        day = now.astimezone(CENTRAL).date()
        await repository.lock_day(self.session, audience, day)
        letter = next_letter(await repository.letters_used(self.session, audience, day))
        if letter is None:
            raise Conflict(
                f"26 notice threads for audience {audience} already began on {day.isoformat()}; "
                "add a follow-up to one of them"
            )
        thread = NoticeThread(
            id=uuid.uuid4(),
            code=thread_code(audience, letter, day),
            audience_code=audience,
            first_date=day,
            letter=letter,
            kind=kind,
            status=ThreadStatus.OPEN.value,
            last_sequence=0,
        )
        self.session.add(thread)
        await self.session.flush()
        return thread

    async def _issue(
        self, thread: NoticeThread, now: datetime, fields: dict[str, Any], outside: bool | None
    ) -> Issued:
        if thread.last_sequence >= MAX_SEQUENCE:
            raise Conflict(f"thread {thread.code} has {MAX_SEQUENCE} notices; start a new one")
        thread.last_sequence += 1
        notice = Notice(
            id=uuid.uuid4(),
            notice_id=notice_id(thread.code, thread.last_sequence),
            thread_id=thread.id,
            sequence=thread.last_sequence,
            notice_date=now.astimezone(CENTRAL).date(),
            issued_at=now,
            **fields,
        )
        self.session.add(notice)
        await self.session.flush()
        mails = await enqueue_notice(self.session, self.settings, notice, thread, now=now)
        log.info(
            "market notice issued",
            extra={
                "notice_id": notice.notice_id,
                "notice_type": notice.notice_type,
                "mails": mails,
                "issued_by": notice.issued_by,
            },
        )
        return Issued(notice, thread, outside)

    async def _thread_of(self, notice_id_text: str) -> tuple[NoticeThread, Notice]:
        code, _ = split_notice_id(notice_id_text)
        thread = await repository.thread_by_code(self.session, code, lock=True)
        found = await repository.notice_by_id(self.session, notice_id_text.strip().upper())
        if thread is None or found is None:
            raise NotFound(f"notice {notice_id_text} does not exist")
        return thread, found[0]

    async def create(self, body: NoticeCreate, *, issued_by: str) -> Issued:
        now = self.clock.now()
        listservs = self._listservs(body.listservs)
        starts_at, ends_at = body.starts_at, body.ends_at
        outside: bool | None = None
        if body.notice_type == NoticeType.PLANNED_OUTAGE:
            if starts_at is None or ends_at is None:
                not_before = (
                    now
                    if body.emergency
                    else earliest_allowed_start(
                        now, self.settings.business_days_notice, self.settings.holidays
                    )
                )
                w = self.settings.window
                starts_at, ends_at = next_window(not_before, w.weekday, w.start, w.end)
            self._check_planned(starts_at, ends_at, now, body.emergency)
            outside = self._outside_window(starts_at, ends_at)
        elif body.notice_type == NoticeType.UNPLANNED_OUTAGE:
            starts_at = starts_at or _minute(now)
        thread = await self._new_thread(body.notice_type, body.audience_code, now)
        fields = {
            "notice_type": body.notice_type.value,
            "is_reminder": False,
            "issued_by": issued_by,
            "short_description": body.short_description,
            "intended_audience": body.intended_audience
            or (
                self.settings.intended_audience
                if body.audience_code == "M"
                else AUDIENCES[body.audience_code]
            ),
            "affected_services": [s.value for s in body.affected_services],
            "days_affected": body.days_affected or describe_period(starts_at, ends_at),
            "window_start": starts_at,
            "window_end": ends_at,
            "long_description": body.long_description,
            "action_required": body.action_required or None,
            "additional_information": body.additional_information or None,
            "contact": body.contact or self.settings.contact,
            "listservs": listservs,
            "emergency": body.emergency,
            "cancels": None,
        }
        if body.notice_type == NoticeType.PLANNED_OUTAGE:
            assert starts_at is not None and ends_at is not None
            self.session.add(
                MaintenanceWindow(
                    id=uuid.uuid4(),
                    thread_id=thread.id,
                    services=fields["affected_services"],
                    starts_at=starts_at,
                    ends_at=ends_at,
                    emergency=body.emergency,
                    updated_at=now,
                )
            )
            if body.reminder:
                thread.reminder_due_at = self._reminder_due(starts_at, now)
        return await self._issue(thread, now, fields, outside)

    async def follow_up(self, notice_id_text: str, body: NoticeUpdate, *, issued_by: str) -> Issued:
        now = self.clock.now()
        thread, _ = await self._thread_of(notice_id_text)
        if thread.status == ThreadStatus.CANCELLED:
            raise Conflict(f"thread {thread.code} was cancelled; start a new notice instead")
        latest = await repository.latest_notice(self.session, thread.id)
        given = body.model_fields_set
        fields: dict[str, Any] = {
            "notice_type": body.notice_type.value,
            "is_reminder": False,
            "issued_by": issued_by,
            "cancels": None,
        }
        # Required fields keep the latest value unless a new one is given; optional ones can
        # also be cleared by sending null or "".
        for name in ("short_description", "long_description", "intended_audience", "contact"):
            fields[name] = getattr(body, name) or getattr(latest, name)
        for name in ("action_required", "additional_information"):
            fields[name] = (getattr(body, name) if name in given else getattr(latest, name)) or None
        fields["affected_services"] = (
            [s.value for s in body.affected_services]
            if body.affected_services
            else list(latest.affected_services)
        )
        fields["listservs"] = (
            self._listservs(body.listservs)
            if body.listservs is not None
            else list(latest.listservs)
        )
        emergency = body.emergency if body.emergency is not None else latest.emergency
        fields["emergency"] = emergency
        starts_at = body.starts_at if "starts_at" in given else latest.window_start
        ends_at = body.ends_at if "ends_at" in given else latest.window_end
        if starts_at and ends_at and ends_at <= starts_at:
            raise Unprocessable("ends_at must be after starts_at")
        outside: bool | None = None
        window = await repository.window_of(self.session, thread.id)
        if window is not None:
            assert starts_at is not None and ends_at is not None
            if starts_at != window.starts_at:
                self._check_planned(starts_at, ends_at, now, emergency)
            outside = self._outside_window(starts_at, ends_at)
            window.starts_at, window.ends_at = starts_at, ends_at
            window.services = fields["affected_services"]
            window.emergency = emergency
            window.updated_at = now
            if thread.reminder_sent_at is None and thread.reminder_due_at is not None:
                thread.reminder_due_at = self._reminder_due(starts_at, now)
        if body.notice_type == NoticeType.RESOLUTION:
            thread.status = ThreadStatus.RESOLVED.value
            thread.reminder_due_at = None
            if window is not None:
                # Work finished early: later minutes are no longer planned maintenance.
                if now < window.starts_at:
                    window.cancelled_at = now
                elif now < window.ends_at:
                    window.ends_at = max(
                        _minute(now) + timedelta(minutes=1), window.starts_at + timedelta(minutes=1)
                    )
                    ends_at = window.ends_at
        fields["window_start"], fields["window_end"] = starts_at, ends_at
        fields["days_affected"] = (
            body.days_affected
            if "days_affected" in given and body.days_affected
            else describe_period(starts_at, ends_at)
            if starts_at
            else latest.days_affected
        )
        return await self._issue(thread, now, fields, outside)

    async def cancel(self, notice_id_text: str, body: NoticeCancel, *, issued_by: str) -> Issued:
        now = self.clock.now()
        thread, cancelled = await self._thread_of(notice_id_text)
        if thread.status != ThreadStatus.OPEN:
            raise Conflict(f"thread {thread.code} is {thread.status}; it cannot be cancelled")
        thread.status = ThreadStatus.CANCELLED.value
        thread.reminder_due_at = None
        window = await repository.window_of(self.session, thread.id)
        if window is not None:
            window.cancelled_at = now
            window.updated_at = now
        extra = cancelled.additional_information
        if body.reason:
            reason = f"Reason for the cancellation: {body.reason}"
            extra = f"{extra}\n{reason}" if extra else reason
        fields = {
            "notice_type": NoticeType.CANCELLATION.value,
            "is_reminder": False,
            "issued_by": issued_by,
            "short_description": cancelled.short_description,
            "intended_audience": cancelled.intended_audience,
            "affected_services": list(cancelled.affected_services),
            "days_affected": cancelled.days_affected,
            "window_start": cancelled.window_start,
            "window_end": cancelled.window_end,
            "long_description": cancelled.long_description,
            "action_required": cancelled.action_required,
            "additional_information": extra,
            "contact": cancelled.contact,
            "listservs": list(cancelled.listservs),
            "emergency": cancelled.emergency,
            "cancels": cancelled.notice_id,
        }
        return await self._issue(thread, now, fields, None)

    async def send_due_reminders(self) -> list[Issued]:
        now = self.clock.now()
        issued = []
        for thread in await repository.due_reminders(self.session, now):
            thread.reminder_sent_at = now
            window = await repository.window_of(self.session, thread.id)
            if window is None or window.cancelled_at is not None or window.starts_at <= now:
                continue
            latest = await repository.latest_notice(self.session, thread.id)
            fields = {
                "notice_type": NoticeType.PLANNED_OUTAGE.value,
                "is_reminder": True,
                "issued_by": AUTOMATIC,
                "short_description": latest.short_description,
                "intended_audience": latest.intended_audience,
                "affected_services": list(latest.affected_services),
                "days_affected": describe_period(window.starts_at, window.ends_at),
                "window_start": window.starts_at,
                "window_end": window.ends_at,
                "long_description": latest.long_description,
                "action_required": latest.action_required,
                "additional_information": latest.additional_information,
                "contact": latest.contact,
                "listservs": list(latest.listservs),
                "emergency": latest.emergency,
                "cancels": None,
            }
            issued.append(await self._issue(thread, now, fields, None))
        return issued

    # --- incidents --------------------------------------------------------------------------

    async def incident_opened(
        self, incident: Incident, market_services: list[str], failed_minutes: int
    ) -> Issued:
        now = self.clock.now()
        what = SERVICE_DESCRIPTIONS.get(incident.service, incident.service)
        names = ", ".join(market_services) or incident.service
        since = describe_period(incident.started_at, None)
        thread = await self._new_thread(NoticeType.UNPLANNED_OUTAGE.value, "M", now)
        fields = {
            "notice_type": NoticeType.UNPLANNED_OUTAGE.value,
            "is_reminder": False,
            "issued_by": AUTOMATIC,
            "short_description": f"Meterhub {names} unavailable",
            "intended_audience": self.settings.intended_audience,
            "affected_services": market_services,
            "days_affected": since,
            "window_start": incident.started_at,
            "window_end": None,
            "long_description": (
                f"Meterhub's availability monitoring found {what} not answering for "
                f"{failed_minutes} consecutive minutes, beginning "
                f"{describe_instant(incident.started_at)}. "
                "Meterhub is investigating. A resolution notice will follow in this thread when "
                "the service is restored."
            ),
            "action_required": (
                "Retry requests that failed during the outage once service is restored; files "
                "sent by TDSPs and HAN requests already accepted are not lost."
            ),
            "additional_information": f"Last probe error: {incident.last_error}"
            if incident.last_error
            else None,
            "contact": self.settings.contact,
            "listservs": self.settings.distribution,
            "emergency": False,
            "cancels": None,
        }
        return await self._issue(thread, now, fields, None)

    async def incident_resolved(self, incident: Incident) -> Issued | None:
        if incident.thread_id is None:
            return None
        thread = await repository.thread_by_id(self.session, incident.thread_id, lock=True)
        if thread is None or thread.status != ThreadStatus.OPEN:
            # An operator already resolved or cancelled the thread by hand.
            return None
        now = self.clock.now()
        latest = await repository.latest_notice(self.session, thread.id)
        assert incident.ended_at is not None
        minutes = int((incident.ended_at - incident.started_at).total_seconds() // 60)
        thread.status = ThreadStatus.RESOLVED.value
        fields = {
            "notice_type": NoticeType.RESOLUTION.value,
            "is_reminder": False,
            "issued_by": AUTOMATIC,
            "short_description": (
                f"Meterhub {', '.join(latest.affected_services) or incident.service} restored"
            ),
            "intended_audience": latest.intended_audience,
            "affected_services": list(latest.affected_services),
            "days_affected": describe_period(incident.started_at, incident.ended_at),
            "window_start": incident.started_at,
            "window_end": incident.ended_at,
            "long_description": (
                f"{SERVICE_DESCRIPTIONS.get(incident.service, incident.service).capitalize()} is "
                f"available again. The outage lasted {minutes} minutes "
                f"({describe_period(incident.started_at, incident.ended_at)})."
            ),
            "action_required": latest.action_required,
            "additional_information": None,
            "contact": latest.contact,
            "listservs": list(latest.listservs),
            "emergency": False,
            "cancels": None,
        }
        return await self._issue(thread, now, fields, None)
