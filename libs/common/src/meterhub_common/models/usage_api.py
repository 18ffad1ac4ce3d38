"""Tables owned by the usage API: market participants, sign-in, agreements and read audit."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Sequence,
    SmallInteger,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from meterhub_common.models.base import Base, created_at_column


class Role(StrEnum):
    TDSP = "tdsp"
    REP = "rep"
    CSP = "csp"
    CUSTOMER = "customer"
    REGULATOR = "regulator"
    OPERATOR = "operator"
    # Another Meterhub service calling an internal endpoint (e.g. usage-api -> ftps-publisher).
    SERVICE = "service"


ROLE_VALUES = ", ".join(f"'{r.value}'" for r in Role)


class Entity(Base):
    """A market participant: a company identified by DUNS, or a customer account holder."""

    __tablename__ = "entities"
    __table_args__ = (
        CheckConstraint(f"role IN ({ROLE_VALUES})", name="role_known"),
        CheckConstraint("duns IS NULL OR duns ~ '^[0-9]{9}([0-9]{4})?$'", name="duns_format"),
        CheckConstraint(
            "role IN ('customer', 'operator', 'regulator', 'service') OR duns IS NOT NULL",
            name="companies_have_duns",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    duns: Mapped[str | None] = mapped_column(String(13), unique=True)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()


class ApiClient(Base):
    """OAuth2 client credentials; only the secret's argon2 hash is stored."""

    __tablename__ = "api_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    entity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("entities.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CustomerAccount(Base):
    """A customer's sign-in (password grant); the entity carries role ``customer``."""

    __tablename__ = "customer_accounts"

    entity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("entities.id"), primary_key=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    email: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()


class CustomerEsiidLink(Base):
    """An ESI ID a customer proved (ESI ID plus meter number) from ``start_date`` on."""

    __tablename__ = "customer_esiid_links"
    __table_args__ = (
        CheckConstraint("end_date IS NULL OR end_date > start_date", name="period_ordered"),
        Index("ix_customer_esiid_links_esiid", "esiid"),
    )

    entity_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customer_accounts.entity_id"), primary_key=True
    )
    esiid: Mapped[str] = mapped_column(String(64), primary_key=True)
    meter_number: Mapped[str] = mapped_column(String(64))
    start_date: Mapped[date] = mapped_column(Date, primary_key=True)
    end_date: Mapped[date | None] = mapped_column(Date)


class AgreementStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    REVOKED = "revoked"


AGREEMENT_STATUS_VALUES = ", ".join(f"'{s.value}'" for s in AgreementStatus)


class AccessAgreement(Base):
    """An energy-data sharing agreement (a CSP's, or a customer's friend's) for one ESI ID.

    The grantee reads the operating days in ``[starts_on, ends_on)`` while the agreement is
    ``accepted``, not revoked and ``ends_on`` has not passed: reads stop the day it expires or
    the moment it is revoked, whatever a status-updating job has done yet.
    """

    __tablename__ = "access_agreements"
    __table_args__ = (
        CheckConstraint(f"status IN ({AGREEMENT_STATUS_VALUES})", name="status_known"),
        CheckConstraint("ends_on > starts_on", name="period_ordered"),
        CheckConstraint("esiid ~ '^[A-Za-z0-9]{1,64}$'", name="esiid_format"),
        Index("ix_access_agreements_grantee_esiid", "grantee_entity_id", "esiid"),
        Index("ix_access_agreements_grantor", "grantor_entity_id"),
        Index("ix_access_agreements_esiid", "esiid"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    grantee_entity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("entities.id"))
    grantor_entity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("entities.id"))
    esiid: Mapped[str] = mapped_column(String(64))
    meter_number: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=AgreementStatus.PENDING.value)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = created_at_column()
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


READ_AUDIT_ID_SEQUENCE = Sequence("read_audit_id_seq")


class ReadAudit(Base):
    """Who read what and when: one row per usage read, including those answered 404.

    Written in batches by the usage API's audit writer; partitioned by month of
    ``occurred_at`` (UTC months) so retention drops whole partitions.
    """

    __tablename__ = "read_audit"
    __table_args__ = (
        Index("ix_read_audit_esiid_occurred", "esiid", "occurred_at"),
        Index("ix_read_audit_entity_occurred", "entity_id", "occurred_at"),
        {"postgresql_partition_by": "RANGE (occurred_at)"},
    )

    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    # A sequence, not an identity: PostgreSQL 15 has no identity columns on partitioned tables.
    id: Mapped[int] = mapped_column(
        BigInteger,
        READ_AUDIT_ID_SEQUENCE,
        primary_key=True,
        server_default=READ_AUDIT_ID_SEQUENCE.next_value(),
    )
    entity_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    role: Mapped[str] = mapped_column(String(16))
    client_id: Mapped[str] = mapped_column(Text)
    endpoint: Mapped[str] = mapped_column(Text)
    esiid: Mapped[str | None] = mapped_column(String(64))
    range_start: Mapped[date | None] = mapped_column(Date)
    range_end: Mapped[date | None] = mapped_column(Date)
    row_count: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int] = mapped_column(SmallInteger)
    request_id: Mapped[str | None] = mapped_column(Text)


class TokenFailure(Base):
    """Failed sign-ins per client id or customer username, for the brute-force lockout."""

    __tablename__ = "token_failures"
    __table_args__ = (Index("ix_token_failures_last_failure_at", "last_failure_at"),)

    subject: Mapped[str] = mapped_column(Text, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_failure_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


# =========================================================================================
# Agreements' lifecycle, ad-hoc reports and on-demand reads (usage-api: agreements/,
# reports/, odr/). Kept together below so the two halves of the service edit apart.
# =========================================================================================

from decimal import Decimal  # noqa: E402 (this block's own imports, kept with it)

from sqlalchemy import Boolean, Identity, Numeric, text  # noqa: E402
from sqlalchemy.dialects.postgresql import ARRAY  # noqa: E402

AGREEMENT_TERMS_MONTHS = (1, 3, 6, 9, 12, 24, 36)
"""The terms SMT offers for an energy data sharing agreement (seed 004)."""

RESIDENTIAL_MAX_TERM_MONTHS = 12


class AgreementKind(StrEnum):
    # A CSP or REP asked for a customer's ESI IDs: the customer (grantor) decides.
    DATA_SHARING = "data_sharing"
    # A customer invited a friend (another customer account): the friend (grantee) decides.
    FRIEND = "friend"


class AgreementRequest(Base):
    """How an ``access_agreements`` row came about: what kind, who asked, who decides, the term.

    The term is kept apart from ``starts_on``/``ends_on`` because the clock starts when the
    agreement is accepted, not when it was asked for.
    """

    __tablename__ = "agreement_requests"
    __table_args__ = (
        CheckConstraint("kind IN ('data_sharing', 'friend')", name="kind_known"),
        CheckConstraint(
            f"term_months IN ({', '.join(str(m) for m in AGREEMENT_TERMS_MONTHS)})",
            name="term_known",
        ),
        Index("ix_agreement_requests_decider", "decider_entity_id"),
        Index("ix_agreement_requests_requested_by", "requested_by_entity_id"),
    )

    agreement_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("access_agreements.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    requested_by_entity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("entities.id"))
    requested_by_client_id: Mapped[str] = mapped_column(Text)
    decider_entity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("entities.id"))
    term_months: Mapped[int] = mapped_column(SmallInteger)
    # A friend invitation: the username or email the inviting customer typed.
    invitee_login: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()


class AgreementEvent(Base):
    """The audit of every agreement status change: who (NULL: the expiry job), when, from, to."""

    __tablename__ = "agreement_events"
    __table_args__ = (Index("ix_agreement_events_agreement", "agreement_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("access_agreements.id"))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_entity_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_role: Mapped[str | None] = mapped_column(String(16))
    actor_client_id: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = created_at_column()


class AgreementMail(Base):
    """Outbox of agreement emails: written with the change, sent after commit, retried."""

    __tablename__ = "agreement_mails"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status_known"),
        CheckConstraint(
            "purpose IN ('request', 'invitation', 'decision', 'revocation')", name="purpose_known"
        ),
        Index(
            "ix_agreement_mails_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_agreement_mails_agreement", "agreement_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    agreement_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("access_agreements.id"))
    purpose: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    created_at: Mapped[datetime] = created_at_column()
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class ReportRequest(Base):
    """An ad-hoc report and its durable job state (claimed with FOR UPDATE SKIP LOCKED).

    A worker holds a job while ``lease_until`` is in the future and renews it as it goes; a
    job whose worker died is claimed again once the lease has lapsed and resumes from the
    chunks and files already recorded.
    """

    __tablename__ = "report_requests"
    __table_args__ = (
        CheckConstraint("report_type IN ('interval', 'daily', 'monthly')", name="type_known"),
        CheckConstraint("versions IN ('latest', 'all')", name="versions_known"),
        CheckConstraint("file_format IN ('csv', 'lse')", name="format_known"),
        CheckConstraint(
            "status IN ('queued', 'running', 'completed', 'failed')", name="status_known"
        ),
        CheckConstraint("end_date >= start_date", name="range_ordered"),
        Index("ix_report_requests_requester", "requester_entity_id", "created_at"),
        Index(
            "ix_report_requests_open",
            "created_at",
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    requester_entity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("entities.id"))
    requester_role: Mapped[str] = mapped_column(String(16))
    requester_duns: Mapped[str] = mapped_column(String(13))
    client_id: Mapped[str] = mapped_column(Text)
    report_type: Mapped[str] = mapped_column(String(16))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    versions: Mapped[str] = mapped_column(String(8))
    file_format: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'queued'"))
    esiid_count: Mapped[int] = mapped_column(Integer)
    included_count: Mapped[int | None] = mapped_column(Integer)
    excluded_count: Mapped[int | None] = mapped_column(Integer)
    record_count: Mapped[int | None] = mapped_column(BigInteger)
    chunk_count: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    worker: Mapped[str | None] = mapped_column(Text)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    not_before: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    scoped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReportEsiid(Base):
    """The ESI IDs a report asked for, in request order; ``included`` is set when scoped
    (false: the requester may see none of the range, so it is listed as excluded)."""

    __tablename__ = "report_esiids"

    report_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("report_requests.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    esiid: Mapped[str] = mapped_column(String(64))
    included: Mapped[bool | None] = mapped_column(Boolean)


class ReportChunk(Base):
    """Progress of a report: ESI ID positions ``[first_position, last_position)`` built."""

    __tablename__ = "report_chunks"
    __table_args__ = (CheckConstraint("last_position > first_position", name="range_ordered"),)

    report_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("report_requests.id", ondelete="CASCADE"), primary_key=True
    )
    chunk_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_position: Mapped[int] = mapped_column(Integer)
    last_position: Mapped[int] = mapped_column(Integer)
    record_count: Mapped[int | None] = mapped_column(BigInteger)
    byte_count: Mapped[int | None] = mapped_column(BigInteger)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReportFile(Base):
    """A file of a report handed to the FTPS publisher (LSE reports split at 50,000 records)."""

    __tablename__ = "report_files"

    report_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("report_requests.id", ondelete="CASCADE"), primary_key=True
    )
    file_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    file_name: Mapped[str] = mapped_column(Text)
    chunk_nos: Mapped[list[int]] = mapped_column(ARRAY(Integer))
    record_count: Mapped[int] = mapped_column(BigInteger)
    byte_count: Mapped[int] = mapped_column(BigInteger)
    # What the publisher answered: the name it placed in the folder and its delivery id.
    placed_name: Mapped[str | None] = mapped_column(Text)
    delivery_ref: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OdrStatus(StrEnum):
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class OdrRequest(Base):
    """An on-demand meter read forwarded to the ESI ID's TDSP head-end (seed 002, 4.1)."""

    __tablename__ = "odr_requests"
    __table_args__ = (
        CheckConstraint("status IN ('PENDING', 'COMPLETED', 'FAILED')", name="status_known"),
        Index("ix_odr_requests_requester_esiid", "requester_entity_id", "esiid", "created_at"),
        Index("ix_odr_requests_esiid", "esiid", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    esiid: Mapped[str] = mapped_column(String(64))
    meter_number: Mapped[str] = mapped_column(String(64))
    tdsp_duns: Mapped[str] = mapped_column(String(13))
    requester_entity_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("entities.id"))
    requester_role: Mapped[str] = mapped_column(String(16))
    client_id: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'PENDING'"))
    register_kwh: Mapped[Decimal | None] = mapped_column(Numeric)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failure_reason: Mapped[str | None] = mapped_column(Text)
    # When the head-end acknowledged the request; NULL if it never reached it.
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OdrDailyCount(Base):
    """On-demand reads forwarded per TDSP per operating day, for the daily cap."""

    __tablename__ = "odr_daily_counts"

    tdsp_duns: Mapped[str] = mapped_column(String(13), primary_key=True)
    operating_day: Mapped[date] = mapped_column(Date, primary_key=True)
    request_count: Mapped[int] = mapped_column(Integer)
