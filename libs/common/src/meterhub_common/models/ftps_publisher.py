"""Tables owned by the ftps-publisher service.

FTPS accounts (one per REP DUNS), the REPs' public PGP keys, the publishing cursor over
``usage_change_events``, the files placed in REP folders (the delivery log), scheduled vs
actual delivery per REP and operating day, and the retrieval log of every FTPS download.
Logs are never purged with the files they describe.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Identity,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from meterhub_common.models.base import Base, created_at_column


class FtpsAccount(Base):
    """The FTPS login of one REP DUNS: argon2 password hash, allow-list and lockout state."""

    __tablename__ = "ftps_accounts"
    __table_args__ = (
        CheckConstraint("rep_duns ~ '^[0-9]{9}([0-9]{4})?$'", name="duns_format"),
        CheckConstraint("failed_logins >= 0", name="failed_logins_positive"),
    )

    rep_duns: Mapped[str] = mapped_column(String(13), primary_key=True)
    password_hash: Mapped[str | None] = mapped_column(Text)
    # CIDR strings; NULL or empty means any address may log in.
    allowed_networks: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    disabled: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    failed_logins: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    first_failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class RepPublicKey(Base):
    """A REP's public PGP key. One ``active`` key per REP encrypts its files; a newly
    registered key stays ``pending`` until the REP confirms it, then the old one is retired."""

    __tablename__ = "ftps_rep_keys"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'active', 'retired')", name="status_known"),
        Index("uq_ftps_rep_keys_rep_fingerprint", "rep_duns", "fingerprint", unique=True),
        Index(
            "uq_ftps_rep_keys_one_active",
            "rep_duns",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    rep_duns: Mapped[str] = mapped_column(String(13))
    fingerprint: Mapped[str] = mapped_column(String(64))
    armored: Mapped[str] = mapped_column(Text)
    uids: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    status: Mapped[str] = mapped_column(String(8))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PublisherCursor(Base):
    """How far the publisher has read ``usage_change_events`` (only ingest writes those)."""

    __tablename__ = "ftps_publisher_cursor"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class HandledEvent(Base):
    """Every usage change event the publisher has handled. Identity values are handed out
    before commit, so an event can become visible below the cursor; those are found here."""

    __tablename__ = "ftps_handled_events"

    event_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    handled_at: Mapped[datetime] = created_at_column()


class PublishedFile(Base):
    """A file placed in a REP folder: the delivery log. ``purged_at`` is set by retention."""

    __tablename__ = "ftps_published_files"
    __table_args__ = (
        CheckConstraint("kind IN ('interval', 'daily', 'adhoc')", name="kind_known"),
        CheckConstraint("source IN ('event', 'sweep', 'adhoc')", name="source_known"),
        Index("uq_ftps_published_files_name", "rep_duns", "file_name", unique=True),
        Index("ix_ftps_published_files_rep_placed", "rep_duns", "placed_at"),
        Index("ix_ftps_published_files_rep_day", "rep_duns", "operating_day", "kind"),
        Index(
            "ix_ftps_published_files_live",
            "placed_at",
            postgresql_where=text("purged_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    rep_duns: Mapped[str] = mapped_column(String(13))
    file_name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(8))
    operating_day: Mapped[date | None] = mapped_column(Date)
    supplemental: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    record_count: Mapped[int] = mapped_column(BigInteger)
    esiid_count: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    key_fingerprint: Mapped[str] = mapped_column(String(64))
    last_event_id: Mapped[int | None] = mapped_column(BigInteger)
    placed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Delivery(Base):
    """Scheduled vs actual delivery per REP and operating day (seed 003's record).

    ``scheduled_by`` is 11 PM Central on the day the TDSP data arrived (seed 002, 5.2).
    """

    __tablename__ = "ftps_deliveries"
    __table_args__ = (Index("ix_ftps_deliveries_day", "operating_day"),)

    rep_duns: Mapped[str] = mapped_column(String(13), primary_key=True)
    operating_day: Mapped[date] = mapped_column(Date, primary_key=True)
    data_received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    scheduled_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    first_delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    files_delivered: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class Retrieval(Base):
    """One FTPS download (RETR): who, which file, when, how many bytes, from where."""

    __tablename__ = "ftps_retrievals"
    __table_args__ = (Index("ix_ftps_retrievals_rep_finished", "rep_duns", "finished_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    rep_duns: Mapped[str] = mapped_column(String(13))
    file_name: Mapped[str] = mapped_column(Text)
    published_file_id: Mapped[int | None] = mapped_column(BigInteger)
    bytes_sent: Mapped[int] = mapped_column(BigInteger)
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    completed: Mapped[bool] = mapped_column(Boolean)
    remote_address: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
