"""Tables owned by the han service: HAN devices, their status history, messages, the outbox.

Statuses and codes are seed 004's (SMT HAN, Topic III), spelled exactly as SMT displays them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Sequence,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from meterhub_common.models.base import Base, created_at_column


class DeviceStatus(StrEnum):
    """Seed 004, "HAN Devices Status"."""

    ADD_ACKNOWLEDGED = "Add Acknowledged"
    ADD_PENDING = "Add Pending"
    METER_READY = "Meter Ready"
    DEVICE_ADDED = "Device Added"
    ADD_REJECTED = "Add Rejected"
    ADD_FAILED = "Add Failed"
    REMOVE_ACKNOWLEDGED = "Remove Acknowledged"
    REMOVE_PENDING = "Remove Pending"
    DEVICE_REMOVED = "Device Removed"
    REMOVE_REJECTED = "Remove Rejected"
    REMOVE_FAILED = "Remove Failed"


SLOT_STATUSES: Final[frozenset[DeviceStatus]] = frozenset(
    {
        DeviceStatus.ADD_ACKNOWLEDGED,
        DeviceStatus.ADD_PENDING,
        DeviceStatus.METER_READY,
        DeviceStatus.DEVICE_ADDED,
        DeviceStatus.REMOVE_ACKNOWLEDGED,
        DeviceStatus.REMOVE_PENDING,
        DeviceStatus.REMOVE_FAILED,
    }
)
"""The statuses seed 004 lists as taking one of the ESI ID's five slots; the others do not."""

MAX_DEVICES_PER_ESIID: Final = 5


class EventCategory(StrEnum):
    """Seed 004, messaging log column EventCategoryID."""

    PRM = "PRM"  # price message
    LCE = "LCE"  # load control event
    CLE = "CLE"  # cancel load control event
    CAL = "CAL"  # cancel all load control events
    STM = "STM"  # simple text message
    CSM = "CSM"  # cancel simple text message


CANCEL_CATEGORIES: Final[frozenset[EventCategory]] = frozenset(
    {EventCategory.CLE, EventCategory.CAL, EventCategory.CSM}
)


class MessageStatusCode(StrEnum):
    """Seed 004, messaging log column StatusCode."""

    RQA = "RQA"  # request accepted and sent to TDSP
    ACK = "ACK"  # TDSP acknowledged receipt
    PEN = "PEN"  # pending
    STR = "STR"  # event started
    CON = "CON"  # confirmed delivery
    OPT = "OPT"  # opt out
    FLR = "FLR"  # failure delivery


class Reporter(StrEnum):
    """Who caused a status: the REP's request, Meterhub itself, or the TDSP head-end."""

    REP = "rep"
    METERHUB = "meterhub"
    TDSP = "tdsp"


class OutboxState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    REJECTED = "rejected"


class OutboxOperation(StrEnum):
    """The head-end SOAP operation an outbox row is delivered with."""

    ADD_DEVICE = "AddDevice"
    REMOVE_DEVICE = "RemoveDevice"
    SEND_MESSAGE = "SendMessage"
    CANCEL_MESSAGE = "CancelMessage"


def _sql_list(values: Any) -> str:
    return ", ".join(f"'{v.value}'" for v in sorted(values, key=lambda v: v.value))


DEVICE_STATUS_SQL: Final = _sql_list(DeviceStatus)
SLOT_STATUS_SQL: Final = _sql_list(SLOT_STATUSES)

request_id_sequence = Sequence("han_request_id_seq", metadata=Base.metadata)
"""Every request and cancellation id comes from this one sequence, so ids never collide; its
value is also the Smart Energy issuer event id / message id (uint32)."""


class HanDevice(Base):
    """One provisioning of a HAN device to a meter; a device provisioned again is a new row."""

    __tablename__ = "han_devices"
    __table_args__ = (
        CheckConstraint(f"status IN ({DEVICE_STATUS_SQL})", name="status_known"),
        CheckConstraint("mac_address ~ '^[0-9A-F]{16}$'", name="mac_format"),
        CheckConstraint(
            "install_code ~ '^([0-9A-F]{16}|[0-9A-F]{20}|[0-9A-F]{28}|[0-9A-F]{36})$'",
            name="install_code_format",
        ),
        Index("ix_han_devices_esiid", "esiid"),
        Index("ix_han_devices_tdsp_duns_status", "tdsp_duns", "status"),
        # A physical device joins one meter at a time.
        Index(
            "ix_han_devices_mac_in_slot",
            "mac_address",
            unique=True,
            postgresql_where=text(f"status IN ({SLOT_STATUS_SQL})"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    esiid: Mapped[str] = mapped_column(String(64))
    meter_number: Mapped[str] = mapped_column(String(64))
    tdsp_duns: Mapped[str] = mapped_column(String(13))
    rep_duns: Mapped[str] = mapped_column(String(13))
    mac_address: Mapped[str] = mapped_column(String(16))
    install_code: Mapped[str] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(24))
    add_request_id: Mapped[str] = mapped_column(String(16), unique=True)
    remove_request_id: Mapped[str | None] = mapped_column(String(16), unique=True)
    status_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()


class HanDeviceHistory(Base):
    """Every status a device went through, in order (SMT's "Provisioning History")."""

    __tablename__ = "han_device_history"
    __table_args__ = (
        CheckConstraint(f"status IN ({DEVICE_STATUS_SQL})", name="status_known"),
        CheckConstraint("reported_by IN ('meterhub', 'rep', 'tdsp')", name="reporter_known"),
        Index("ix_han_device_history_esiid", "esiid", "id"),
        Index("ix_han_device_history_device_id", "device_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("han_devices.id"))
    esiid: Mapped[str] = mapped_column(String(64))
    mac_address: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24))
    description: Mapped[str] = mapped_column(Text)
    reported_by: Mapped[str] = mapped_column(String(8))
    status_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = created_at_column()


class HanMessage(Base):
    """A Smart Energy message or cancellation a REP sent to an ESI ID's meter.

    ``reference_id`` is the id the REP received: the request id of a PRM, LCE or STM, the
    cancellation id of a CLE, CAL or CSM; ``target_reference_id`` is the request a CLE or CSM
    cancels. ``se_id`` is the Smart Energy issuer event id (LCE, PRM) or message id (STM).
    """

    __tablename__ = "han_messages"
    __table_args__ = (
        CheckConstraint(f"category IN ({_sql_list(EventCategory)})", name="category_known"),
        CheckConstraint(f"status IN ({_sql_list(MessageStatusCode)})", name="status_known"),
        Index("ix_han_messages_rep_duns_created_at", "rep_duns", "created_at"),
        Index("ix_han_messages_esiid", "esiid", "created_at"),
        Index("ix_han_messages_target_reference_id", "target_reference_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    reference_id: Mapped[str] = mapped_column(String(16), unique=True)
    target_reference_id: Mapped[str | None] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(3))
    esiid: Mapped[str] = mapped_column(String(64))
    meter_number: Mapped[str] = mapped_column(String(64))
    tdsp_duns: Mapped[str] = mapped_column(String(13))
    rep_duns: Mapped[str] = mapped_column(String(13))
    se_id: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(3))
    status_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at_column()


class HanMessageStatus(Base):
    """One row of the messaging log; ``id`` is seed 004's MessageStatusID.

    ``device_mac`` is set when the TDSP reports a status for one device, else NULL (the
    message as a whole).
    """

    __tablename__ = "han_message_status_log"
    __table_args__ = (
        CheckConstraint(f"status_code IN ({_sql_list(MessageStatusCode)})", name="status_known"),
        CheckConstraint("reported_by IN ('meterhub', 'rep', 'tdsp')", name="reporter_known"),
        Index("ix_han_message_status_log_message", "message_id", "device_mac", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("han_messages.id"))
    device_mac: Mapped[str | None] = mapped_column(String(16))
    status_code: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(Text)
    reported_by: Mapped[str] = mapped_column(String(8))
    status_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recorded_at: Mapped[datetime] = created_at_column()


class HanOutbox(Base):
    """Requests waiting to be delivered to a TDSP head-end (the durable job queue).

    ``idempotency_key`` is our request or cancellation id; the head-end answers a repeat of
    it without acting twice, so a delivery retried after a lost answer does no harm.
    """

    __tablename__ = "han_outbox"
    __table_args__ = (
        CheckConstraint(f"state IN ({_sql_list(OutboxState)})", name="state_known"),
        CheckConstraint(f"operation IN ({_sql_list(OutboxOperation)})", name="operation_known"),
        Index(
            "ix_han_outbox_due",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
        ),
        Index(
            "ix_han_outbox_pending_esiid", "esiid", "id", postgresql_where=text("state = 'pending'")
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(16), unique=True)
    tdsp_duns: Mapped[str] = mapped_column(String(13))
    esiid: Mapped[str] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    state: Mapped[str] = mapped_column(String(12), server_default=OutboxState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class HanRefusedReport(Base):
    """A status a TDSP reported that the state machine refused: kept for the operators."""

    __tablename__ = "han_refused_reports"
    __table_args__ = (Index("ix_han_refused_reports_tdsp_duns", "tdsp_duns", "received_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tdsp_duns: Mapped[str] = mapped_column(String(13))
    reference_id: Mapped[str] = mapped_column(String(16))
    device_mac: Mapped[str | None] = mapped_column(String(16))
    reported_status: Mapped[str] = mapped_column(Text)
    current_status: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = created_at_column()
