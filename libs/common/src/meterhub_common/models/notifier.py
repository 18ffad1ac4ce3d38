"""Tables owned by the notifier service.

Market Notices are grouped in threads: the first notice gives the thread its id
(``M-A121119``) and every follow-up (update, reminder, resolution, cancellation) adds ``-NN``.
A planned outage thread carries a maintenance window; the probe ledger records one row per
probed service and minute, and incidents open and close from it. Mail leaves through a
durable outbox with one row per recipient, so each recipient gets a notice at most once.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from meterhub_common.models.base import Base, created_at_column


class NoticeType(StrEnum):
    PLANNED_OUTAGE = "planned_outage"
    UNPLANNED_OUTAGE = "unplanned_outage"
    UPDATE = "update"
    RESOLUTION = "resolution"
    CANCELLATION = "cancellation"
    GENERAL = "general"


class ThreadStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


class LedgerState(StrEnum):
    UP = "up"
    DOWN = "down"
    MAINTENANCE = "maintenance"


class MailStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    # Refused for good (5xx) or given up after retrying for too long.
    FAILED = "failed"
    # The relay may or may not have accepted it (the connection broke after the message was
    # handed over): never resent automatically, an operator decides.
    UNKNOWN = "unknown"


def _values(enum: type[StrEnum]) -> str:
    return ", ".join(f"'{member.value}'" for member in enum)


class NoticeThread(Base):
    """One announcement and its follow-ups; ``code`` is the notice id without ``-NN``."""

    __tablename__ = "notice_threads"
    __table_args__ = (
        UniqueConstraint("audience_code", "first_date", "letter"),
        CheckConstraint("audience_code ~ '^[A-Z]$'", name="audience_code_letter"),
        CheckConstraint("letter ~ '^[A-Z]$'", name="letter_letter"),
        CheckConstraint(f"kind IN ({_values(NoticeType)})", name="kind_known"),
        CheckConstraint(f"status IN ({_values(ThreadStatus)})", name="status_known"),
        Index(
            "ix_notice_threads_reminder_due",
            "reminder_due_at",
            postgresql_where=text("reminder_sent_at IS NULL AND status = 'open'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    audience_code: Mapped[str] = mapped_column(String(1))
    first_date: Mapped[date] = mapped_column(Date)
    letter: Mapped[str] = mapped_column(String(1))
    kind: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(16), default=ThreadStatus.OPEN.value)
    last_sequence: Mapped[int] = mapped_column(SmallInteger, default=0)
    reminder_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reminder_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()


class Notice(Base):
    """One Market Notice as sent: every field of ERCOT's layout, frozen at issue."""

    __tablename__ = "notices"
    __table_args__ = (
        UniqueConstraint("thread_id", "sequence"),
        CheckConstraint(f"notice_type IN ({_values(NoticeType)})", name="type_known"),
        CheckConstraint("sequence BETWEEN 1 AND 99", name="sequence_range"),
        CheckConstraint(
            "window_end IS NULL OR window_start IS NULL OR window_end > window_start",
            name="window_ordered",
        ),
        Index("ix_notices_issued_at", "issued_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    notice_id: Mapped[str] = mapped_column(String(16), unique=True)
    thread_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notice_threads.id"), index=True)
    sequence: Mapped[int] = mapped_column(SmallInteger)
    notice_type: Mapped[str] = mapped_column(String(24))
    is_reminder: Mapped[bool] = mapped_column(Boolean, default=False)
    notice_date: Mapped[date] = mapped_column(Date)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    issued_by: Mapped[str] = mapped_column(String(64))
    short_description: Mapped[str] = mapped_column(Text)
    intended_audience: Mapped[str] = mapped_column(Text)
    affected_services: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    days_affected: Mapped[str] = mapped_column(Text)
    window_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    long_description: Mapped[str] = mapped_column(Text)
    action_required: Mapped[str | None] = mapped_column(Text)
    additional_information: Mapped[str | None] = mapped_column(Text)
    contact: Mapped[str] = mapped_column(Text)
    listservs: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    # For a cancellation: the notice id it cancels.
    cancels: Mapped[str | None] = mapped_column(String(16))


class MaintenanceWindow(Base):
    """The planned outage window of a planned-outage thread, as last announced.

    A cancellation sets ``cancelled_at``; minutes before it stay planned maintenance (the work
    may have begun), minutes after it do not.
    """

    __tablename__ = "maintenance_windows"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="window_ordered"),
        Index("ix_maintenance_windows_period", "starts_at", "ends_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    thread_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("notice_threads.id"), unique=True)
    # Market services (GUI, API, FTPS, HAN, call center) as the notice names them.
    services: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = created_at_column()


class ProbeMinute(Base):
    """The minute ledger: what the probe of one service found in one minute (UTC start)."""

    __tablename__ = "probe_minutes"
    __table_args__ = (
        CheckConstraint(f"state IN ({_values(LedgerState)})", name="state_known"),
        CheckConstraint("date_trunc('minute', minute) = minute", name="whole_minute"),
    )

    service: Mapped[str] = mapped_column(String(32), primary_key=True)
    minute: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    probe_ok: Mapped[bool] = mapped_column(Boolean)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = created_at_column()


class Incident(Base):
    """An unplanned outage of one service, opened and closed from the minute ledger."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index(
            "ix_incidents_one_open_per_service",
            "service",
            unique=True,
            postgresql_where=text("closed_at IS NULL"),
        ),
        Index("ix_incidents_started_at", "started_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    service: Mapped[str] = mapped_column(String(32))
    # The first failed minute, and the first minute the service answered again.
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the notifier decided (threshold reached, recovery confirmed).
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    thread_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("notice_threads.id"))


class OutboxMail(Base):
    """One notice to one recipient, rendered once so every retry sends the same bytes."""

    __tablename__ = "notice_outbox"
    __table_args__ = (
        UniqueConstraint("notice_pk", "recipient"),
        CheckConstraint(f"status IN ({_values(MailStatus)})", name="status_known"),
        Index(
            "ix_notice_outbox_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    notice_pk: Mapped[uuid.UUID] = mapped_column(ForeignKey("notices.id"), index=True)
    listserv: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(Text)
    message: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(16), default=MailStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()


class OutboxAttempt(Base):
    """Every delivery attempt of an outbox mail and how it ended."""

    __tablename__ = "notice_outbox_attempts"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    mail_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("notice_outbox.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # sent | deferred | rejected | ambiguous (NULL while in flight)
    outcome: Mapped[str | None] = mapped_column(String(16))
    smtp_code: Mapped[int | None] = mapped_column(SmallInteger)
    detail: Mapped[str | None] = mapped_column(Text)
