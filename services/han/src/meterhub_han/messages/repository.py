"""All SQL on han_messages and han_message_status_log (plus the outbox rows messages add)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.models.han import MessageStatusCode, OutboxOperation, Reporter


@dataclass(frozen=True)
class MessageRow:
    id: int
    reference_id: str
    target_reference_id: str | None
    category: str
    esiid: str
    meter_number: str
    tdsp_duns: str
    rep_duns: str
    se_id: int
    payload: dict[str, Any]
    status: str
    status_at: datetime
    created_at: datetime


@dataclass(frozen=True)
class LogRow:
    """One messaging log row, seed 004's columns."""

    tdsp_duns: str
    message_date: datetime
    category: str
    reference_id: str
    target_reference_id: str | None
    message_status_id: int
    esiid: str
    meter_number: str
    device_mac: str | None
    status_code: str
    status_desc: str
    status_at: datetime


def _message(row: Any) -> MessageRow:
    values = list(row)
    if isinstance(values[9], str):
        values[9] = json.loads(values[9])
    return MessageRow(*values)


_COLUMNS = (
    "id, reference_id, target_reference_id, category, esiid, meter_number, tdsp_duns, "
    "rep_duns, se_id, payload, status, status_at, created_at"
)

_INSERT = text(
    """
    WITH m AS (
        INSERT INTO han_messages (reference_id, target_reference_id, category, esiid,
                                  meter_number, tdsp_duns, rep_duns, se_id, payload, status,
                                  status_at, created_at)
        VALUES (:reference_id, :target_reference_id, :category, :esiid, :meter_number,
                :tdsp_duns, :rep_duns, :se_id, CAST(:payload AS jsonb), :status, :now, :now)
        RETURNING id
    ), l AS (
        INSERT INTO han_message_status_log (message_id, status_code, description, reported_by,
                                            status_at, recorded_at)
        SELECT id, :status, :description, :reporter, :now, :now FROM m
        RETURNING id
    ), o AS (
        INSERT INTO han_outbox (idempotency_key, tdsp_duns, esiid, operation, payload)
        SELECT :reference_id, :tdsp_duns, :esiid, :operation, CAST(:outbox_payload AS jsonb)
        FROM m
    )
    SELECT m.id, l.id, pg_notify('han_outbox', :tdsp_duns) FROM m, l
    """
)

_FIND_OWN = text(
    f"""
    SELECT {_COLUMNS} FROM han_messages WHERE reference_id = :reference_id AND rep_duns = :rep_duns
    """  # noqa: S608 (constants only)
)

_FIND_FOR_UPDATE = text(
    f"""
    SELECT {_COLUMNS} FROM han_messages
    WHERE reference_id = :reference_id
      AND (CAST(:tdsp_duns AS text) IS NULL OR tdsp_duns = :tdsp_duns)
    FOR UPDATE
    """  # noqa: S608 (constants only)
)

_ACTIVE_CANCELLATION = text(
    """
    SELECT reference_id FROM han_messages
    WHERE target_reference_id = :reference_id AND status <> 'FLR'
    ORDER BY id LIMIT 1
    """
)

_LOG_SELECT = """
    SELECT m.tdsp_duns, m.created_at, m.category, m.reference_id, m.target_reference_id,
           l.id, m.esiid, m.meter_number, l.device_mac, l.status_code, l.description,
           l.status_at
    FROM han_messages m JOIN han_message_status_log l ON l.message_id = m.id
"""

_STATUS_LOG = text(_LOG_SELECT + " WHERE m.id = :message_id ORDER BY l.id")

_MESSAGING_LOG = text(
    _LOG_SELECT
    + """
    WHERE m.rep_duns = :rep_duns AND m.created_at >= :start AND m.created_at < :end
      AND (CAST(:esiid AS text) IS NULL OR m.esiid = :esiid)
      AND (CAST(:category AS text) IS NULL OR m.category = :category)
    ORDER BY m.created_at, m.id, l.id
    LIMIT :limit
    """
)

_LATEST_DEVICE_STATUS = text(
    """
    SELECT status_code FROM han_message_status_log
    WHERE message_id = :message_id AND device_mac = :mac
    ORDER BY id DESC LIMIT 1
    """
)

_DEVICE_ON_ESIID = text(
    "SELECT EXISTS (SELECT 1 FROM han_devices WHERE esiid = :esiid AND mac_address = :mac)"
)

_SET_STATUS = text(
    """
    WITH m AS (
        UPDATE han_messages SET status = :status, status_at = :at WHERE id = :message_id
        RETURNING id
    )
    INSERT INTO han_message_status_log (message_id, status_code, description, reported_by,
                                        status_at)
    SELECT id, :status, :description, :reporter, :at FROM m
    RETURNING id
    """
)

# The head-end acknowledged receipt: RQA -> ACK, unless a TDSP report got there first (the
# UPDATE's condition is checked again on a row another transaction just changed).
_ACKNOWLEDGE = text(
    """
    WITH m AS (
        UPDATE han_messages SET status = 'ACK', status_at = :at
        WHERE reference_id = :reference_id AND status = 'RQA'
        RETURNING id
    )
    INSERT INTO han_message_status_log (message_id, status_code, description, reported_by,
                                        status_at)
    SELECT id, 'ACK', :description, 'tdsp', :at FROM m
    """
)

_ADD_DEVICE_STATUS = text(
    """
    INSERT INTO han_message_status_log (message_id, device_mac, status_code, description,
                                        reported_by, status_at)
    VALUES (:message_id, :mac, :status, :description, :reporter, :at)
    RETURNING id
    """
)


@dataclass(frozen=True)
class Inserted:
    message_id: int
    status_id: int


async def insert(
    session: AsyncSession,
    *,
    reference_id: str,
    target_reference_id: str | None,
    category: str,
    esiid: str,
    meter_number: str,
    tdsp_duns: str,
    rep_duns: str,
    se_id: int,
    payload: dict[str, Any],
    now: datetime,
    description: str,
    operation: OutboxOperation,
    outbox_payload: dict[str, Any],
) -> Inserted:
    row = (
        await session.execute(
            _INSERT,
            {
                "reference_id": reference_id,
                "target_reference_id": target_reference_id,
                "category": category,
                "esiid": esiid,
                "meter_number": meter_number,
                "tdsp_duns": tdsp_duns,
                "rep_duns": rep_duns,
                "se_id": se_id,
                "payload": json.dumps(payload),
                "status": MessageStatusCode.RQA.value,
                "now": now,
                "description": description,
                "reporter": Reporter.METERHUB.value,
                "operation": operation.value,
                "outbox_payload": json.dumps(outbox_payload),
            },
        )
    ).one()
    return Inserted(message_id=row[0], status_id=row[1])


async def find_own(session: AsyncSession, reference_id: str, rep_duns: str) -> MessageRow | None:
    row = (
        await session.execute(_FIND_OWN, {"reference_id": reference_id, "rep_duns": rep_duns})
    ).first()
    return None if row is None else _message(row)


async def find_for_update(
    session: AsyncSession, reference_id: str, tdsp_duns: str | None
) -> MessageRow | None:
    row = (
        await session.execute(
            _FIND_FOR_UPDATE, {"reference_id": reference_id, "tdsp_duns": tdsp_duns}
        )
    ).first()
    return None if row is None else _message(row)


async def active_cancellation(session: AsyncSession, reference_id: str) -> str | None:
    result = await session.execute(_ACTIVE_CANCELLATION, {"reference_id": reference_id})
    value: str | None = result.scalar_one_or_none()
    return value


async def status_log(session: AsyncSession, message_id: int) -> list[LogRow]:
    rows = (await session.execute(_STATUS_LOG, {"message_id": message_id})).all()
    return [LogRow(*row) for row in rows]


async def messaging_log(
    session: AsyncSession,
    *,
    rep_duns: str,
    start: datetime,
    end: datetime,
    esiid: str | None,
    category: str | None,
    limit: int,
) -> list[LogRow]:
    rows = (
        await session.execute(
            _MESSAGING_LOG,
            {
                "rep_duns": rep_duns,
                "start": start,
                "end": end,
                "esiid": esiid,
                "category": category,
                "limit": limit,
            },
        )
    ).all()
    return [LogRow(*row) for row in rows]


async def latest_device_status(session: AsyncSession, message_id: int, mac: str) -> str | None:
    result = await session.execute(_LATEST_DEVICE_STATUS, {"message_id": message_id, "mac": mac})
    value: str | None = result.scalar_one_or_none()
    return value


async def device_on_esiid(session: AsyncSession, esiid: str, mac: str) -> bool:
    return bool((await session.execute(_DEVICE_ON_ESIID, {"esiid": esiid, "mac": mac})).scalar())


async def set_status(
    session: AsyncSession,
    message: MessageRow,
    *,
    status: MessageStatusCode,
    description: str,
    reporter: Reporter,
    at: datetime,
) -> int:
    result = await session.execute(
        _SET_STATUS,
        {
            "message_id": message.id,
            "status": status.value,
            "description": description,
            "reporter": reporter.value,
            "at": at,
        },
    )
    status_id: int = result.scalar_one()
    return status_id


async def acknowledge(
    session: AsyncSession, reference_id: str, *, description: str, at: datetime
) -> None:
    await session.execute(
        _ACKNOWLEDGE, {"reference_id": reference_id, "description": description, "at": at}
    )


async def add_device_status(
    session: AsyncSession,
    message: MessageRow,
    *,
    mac: str,
    status: MessageStatusCode,
    description: str,
    reporter: Reporter,
    at: datetime,
) -> int:
    result = await session.execute(
        _ADD_DEVICE_STATUS,
        {
            "message_id": message.id,
            "mac": mac,
            "status": status.value,
            "description": description,
            "reporter": reporter.value,
            "at": at,
        },
    )
    status_id: int = result.scalar_one()
    return status_id
