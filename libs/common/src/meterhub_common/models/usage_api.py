"""Tables owned by the usage API: who the market participants are and how they sign in."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
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
