"""Tables owned by the ingest service: market reference data from TDSP files.

Every table that grows with meters carries the ESI ID in its primary key so it can be the
Citus distribution column.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
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
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from meterhub_common.models.base import Base, created_at_column


class EsiId(Base):
    """A meter point (premise) and the TDSP whose territory it is in."""

    __tablename__ = "esiids"
    __table_args__ = (
        CheckConstraint("esiid ~ '^[A-Za-z0-9]{1,64}$'", name="esiid_format"),
        Index("ix_esiids_tdsp_duns", "tdsp_duns"),
    )

    esiid: Mapped[str] = mapped_column(String(64), primary_key=True)
    tdsp_duns: Mapped[str] = mapped_column(String(13))
    premise_type: Mapped[str] = mapped_column(String(16), default="residential")
    address_line: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str | None] = mapped_column(String(2))
    zip_code: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Meter(Base):
    __tablename__ = "meters"

    esiid: Mapped[str] = mapped_column(ForeignKey("esiids.esiid"), primary_key=True)
    meter_number: Mapped[str] = mapped_column(String(64), primary_key=True)
    multiplier: Mapped[Decimal] = mapped_column(Numeric(12, 4), default=Decimal(1))
    manufacturer: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(Text)
    firmware_version: Mapped[str | None] = mapped_column(Text)
    install_date: Mapped[date | None] = mapped_column(Date)
    provision_date: Mapped[date | None] = mapped_column(Date)
    removal_date: Mapped[date | None] = mapped_column(Date)


class ServiceHistory(Base):
    """Which REP served an ESI ID on which operating days: ``[start_date, end_date)``.

    It decides what a REP may read, so periods of one ESI ID may never overlap.
    """

    __tablename__ = "service_history"
    __table_args__ = (
        CheckConstraint("end_date IS NULL OR end_date > start_date", name="period_ordered"),
        ExcludeConstraint(
            ("esiid", "="),
            (text("daterange(start_date, end_date)"), "&&"),
            name="service_history_no_overlap",
            using="gist",
        ),
        Index("ix_service_history_rep_duns", "rep_duns", "start_date"),
    )

    esiid: Mapped[str] = mapped_column(ForeignKey("esiids.esiid"), primary_key=True)
    start_date: Mapped[date] = mapped_column(Date, primary_key=True)
    end_date: Mapped[date | None] = mapped_column(Date)
    rep_duns: Mapped[str] = mapped_column(String(13))


class FileKind(StrEnum):
    LSE = "lse"
    METER_SYNC = "meter-sync"
    REGISTER_READS = "register-reads"
    MONTHLY_USAGE = "monthly-usage"


class FileStatus(StrEnum):
    RECEIVED = "received"
    PROCESSING = "processing"
    LOADED = "loaded"
    PARTIALLY_LOADED = "partially loaded"
    REJECTED = "rejected"


class TdspFile(Base):
    """A file a TDSP sent, its processing state and counts; also the durable job queue.

    The same bytes from the same sender are one file (``sha256`` is unique per sender).
    """

    __tablename__ = "tdsp_files"
    __table_args__ = (
        UniqueConstraint("sender_duns", "sha256"),
        CheckConstraint(
            "status IN ('received', 'processing', 'loaded', 'partially loaded', 'rejected')",
            name="status_known",
        ),
        CheckConstraint(
            "kind IN ('lse', 'meter-sync', 'register-reads', 'monthly-usage')", name="kind_known"
        ),
        Index("ix_tdsp_files_sender_received", "sender_duns", "received_at"),
        Index(
            "ix_tdsp_files_pending",
            "received_at",
            postgresql_where=text("status IN ('received', 'processing')"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    sender_duns: Mapped[str] = mapped_column(String(13))
    kind: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    encrypted: Mapped[bool] = mapped_column(Boolean)
    via: Mapped[str] = mapped_column(String(16), default="api")  # api | upload-page
    status: Mapped[str] = mapped_column(String(20), default=FileStatus.RECEIVED.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    records_total: Mapped[int | None] = mapped_column(Integer)
    records_loaded: Mapped[int | None] = mapped_column(Integer)
    records_rejected: Mapped[int | None] = mapped_column(Integer)
    records_unchanged: Mapped[int | None] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(8))
    error_message: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = created_at_column()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TdspFileBlob(Base):
    """The raw bytes as received, stored before processing so a crash loses nothing."""

    __tablename__ = "tdsp_file_blobs"

    file_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tdsp_files.id", ondelete="CASCADE"), primary_key=True
    )
    content: Mapped[bytes] = mapped_column(LargeBinary)


class FileRecordResult(Base):
    """One line of a file's activity report: a record's outcome with ERCOT's result code.

    ``file_id`` is a ``tdsp_files`` id without a foreign key: a full LSE file has 50,000 lines
    and a check per row cost as much as writing them. Only the transaction that loads the file
    (holding its row lock) writes them, and a trigger deletes them with their file
    (migration 0007).
    """

    __tablename__ = "tdsp_file_results"

    file_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(4))
    message: Mapped[str] = mapped_column(Text)
    esiid: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[int | None] = mapped_column(SmallInteger)
    operating_day: Mapped[date | None] = mapped_column(Date)


class IntervalRead(Base):
    """One ESI ID, channel and operating day: all its 15-minute values, one row per version.

    ``kwh`` holds the values as loaded, in PostgreSQL's array literal form
    (``{0.251,NULL,1.1}``: canonical decimal texts, NULL = missing interval), so reads and
    files print them without converting and ``kwh::numeric[]`` gives exact numbers for sums
    (see migration 0010 for why). ``statuses`` holds one character per interval (``A``
    actual, ``E`` estimated, ``-`` missing). The newest version
    has ``is_current``; older versions stay with ``superseded_at`` (a push-down stack).
    Partitioned by month of ``operating_day`` so retention drops whole partitions.
    """

    __tablename__ = "interval_reads"
    __table_args__ = (
        CheckConstraint("channel IN (1, 4)", name="channel_known"),
        CheckConstraint("interval_count IN (92, 96, 100)", name="interval_count_known"),
        Index(
            "ix_interval_reads_current",
            "esiid",
            "channel",
            "operating_day",
            unique=True,
            postgresql_where=text("is_current"),
        ),
        {"postgresql_partition_by": "RANGE (operating_day)"},
    )

    esiid: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    operating_day: Mapped[date] = mapped_column(Date, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    is_current: Mapped[bool] = mapped_column(Boolean)
    interval_count: Mapped[int] = mapped_column(SmallInteger)
    kwh: Mapped[str] = mapped_column(Text)
    statuses: Mapped[str] = mapped_column(Text)
    record_created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revision_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    superseded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source_file_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    transaction_id: Mapped[str] = mapped_column(Text)


class DailyRead(Base):
    """A daily register read (start and end reading, kWh), versioned like intervals."""

    __tablename__ = "daily_reads"
    __table_args__ = (
        Index(
            "ix_daily_reads_current",
            "esiid",
            "meter_number",
            "read_date",
            unique=True,
            postgresql_where=text("is_current"),
        ),
    )

    esiid: Mapped[str] = mapped_column(String(64), primary_key=True)
    meter_number: Mapped[str] = mapped_column(String(64), primary_key=True)
    read_date: Mapped[date] = mapped_column(Date, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    is_current: Mapped[bool] = mapped_column(Boolean)
    start_reading: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    end_reading: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    kwh: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    record_created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revision_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    superseded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source_file_id: Mapped[uuid.UUID] = mapped_column(Uuid)


class MonthlyUsage(Base):
    """Monthly billed usage for a billing period, versioned like intervals."""

    __tablename__ = "monthly_usage"
    __table_args__ = (
        CheckConstraint("period_end > period_start", name="period_ordered"),
        Index(
            "ix_monthly_usage_current",
            "esiid",
            "meter_number",
            "period_start",
            unique=True,
            postgresql_where=text("is_current"),
        ),
    )

    esiid: Mapped[str] = mapped_column(String(64), primary_key=True)
    meter_number: Mapped[str] = mapped_column(String(64), primary_key=True)
    period_start: Mapped[date] = mapped_column(Date, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_end: Mapped[date] = mapped_column(Date)
    is_current: Mapped[bool] = mapped_column(Boolean)
    kwh: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    demand_kw: Mapped[Decimal | None] = mapped_column(Numeric(14, 4))
    record_created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revision_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    superseded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    source_file_id: Mapped[uuid.UUID] = mapped_column(Uuid)


class UsageChangeEvent(Base):
    """Written in the loading transaction: which REP's days changed, for the FTPS publisher.

    The publisher keeps its own cursor (the last event id it handled), so this table stays
    append-only and written by ingest alone. ``supplemental`` marks days where an earlier
    version existed (a replacement), so the publisher sends a supplemental file.
    """

    __tablename__ = "usage_change_events"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    file_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tdsp_files.id"))
    rep_duns: Mapped[str] = mapped_column(String(13))
    operating_day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))  # a FileKind value
    supplemental: Mapped[bool] = mapped_column(Boolean)
    esiid_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at_column()
