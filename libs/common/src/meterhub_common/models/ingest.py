"""Tables owned by the ingest service: market reference data from TDSP files.

Every table that grows with meters carries the ESI ID in its primary key so it can be the
Citus distribution column.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
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
