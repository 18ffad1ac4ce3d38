"""All SQL on han_devices and han_device_history (plus the outbox rows device requests add)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.models.han import SLOT_STATUS_SQL, DeviceStatus, OutboxOperation, Reporter


@dataclass(frozen=True)
class DeviceRow:
    id: uuid.UUID
    esiid: str
    meter_number: str
    tdsp_duns: str
    rep_duns: str
    mac_address: str
    install_code: str
    status: str
    add_request_id: str
    remove_request_id: str | None
    status_at: datetime


@dataclass(frozen=True)
class HistoryRow:
    mac_address: str
    request_id: str
    status: str
    description: str
    status_at: datetime
    reported_by: str


_DEVICE_COLUMNS = (
    "id, esiid, meter_number, tdsp_duns, rep_duns, mac_address, install_code, status, "
    "add_request_id, remove_request_id, status_at"
)

# Under the ESI ID's lock (taken by the scope query before this statement, so its snapshot
# sees every device committed before): count the slots in use and insert only if the rule
# allows; the counts come back either way, to explain a refusal.
_INSERT_DEVICE_IF_ALLOWED = text(
    f"""
    WITH slots AS (
        SELECT count(*) FILTER (WHERE esiid = :esiid) AS used,
               max(esiid) FILTER (WHERE mac_address = :mac) AS mac_esiid,
               max(status) FILTER (WHERE mac_address = :mac) AS mac_status
        FROM han_devices
        WHERE (esiid = :esiid OR mac_address = :mac) AND status IN ({SLOT_STATUS_SQL})
    ), d AS (
        INSERT INTO han_devices (id, esiid, meter_number, tdsp_duns, rep_duns, mac_address,
                                 install_code, status, add_request_id, status_at)
        SELECT :id, :esiid, :meter_number, :tdsp_duns, :rep_duns, :mac, :install_code,
               :status, :request_id, :now
        FROM slots WHERE slots.used < :max_devices AND slots.mac_esiid IS NULL
        RETURNING id
    ), h AS (
        INSERT INTO han_device_history (device_id, esiid, mac_address, request_id, status,
                                        description, reported_by, status_at)
        SELECT id, :esiid, :mac, :request_id, :status, :description, :reporter, :now FROM d
    ), o AS (
        INSERT INTO han_outbox (idempotency_key, tdsp_duns, esiid, operation, payload)
        SELECT :request_id, :tdsp_duns, :esiid, :operation, CAST(:payload AS jsonb) FROM d
    )
    SELECT slots.used, slots.mac_esiid, slots.mac_status,
           (SELECT count(*) FROM d) AS inserted,
           (SELECT pg_notify('han_outbox', :tdsp_duns) FROM d) AS notified
    FROM slots
    """  # noqa: S608 (constants only)
)

_FIND_IN_SLOT = text(
    f"""
    SELECT {_DEVICE_COLUMNS} FROM han_devices
    WHERE esiid = :esiid AND mac_address = :mac AND status IN ({SLOT_STATUS_SQL})
    FOR UPDATE
    """  # noqa: S608 (constants only)
)

_START_REMOVAL = text(
    """
    WITH d AS (
        UPDATE han_devices SET status = :status, remove_request_id = :request_id, status_at = :now
        WHERE id = :id
        RETURNING id, esiid, mac_address, tdsp_duns
    ), h AS (
        INSERT INTO han_device_history (device_id, esiid, mac_address, request_id, status,
                                        description, reported_by, status_at)
        SELECT id, esiid, mac_address, :request_id, :status, :description, :reporter, :now FROM d
    ), o AS (
        INSERT INTO han_outbox (idempotency_key, tdsp_duns, esiid, operation, payload)
        SELECT :request_id, tdsp_duns, esiid, :operation, CAST(:payload AS jsonb) FROM d
    )
    SELECT pg_notify('han_outbox', tdsp_duns) FROM d
    """
)

_LIST = text(
    f"""
    SELECT {_DEVICE_COLUMNS} FROM han_devices WHERE esiid = :esiid ORDER BY created_at, id
    """  # noqa: S608 (constants only)
)

_HISTORY = text(
    """
    SELECT mac_address, request_id, status, description, status_at, reported_by
    FROM han_device_history
    WHERE esiid = :esiid AND (CAST(:mac AS text) IS NULL OR mac_address = :mac)
    ORDER BY id
    """
)

_FIND_BY_REQUEST = text(
    f"""
    SELECT {_DEVICE_COLUMNS} FROM han_devices
    WHERE (add_request_id = :request_id OR remove_request_id = :request_id)
      AND (CAST(:tdsp_duns AS text) IS NULL OR tdsp_duns = :tdsp_duns)
    FOR UPDATE
    """  # noqa: S608 (constants only)
)

_SET_STATUS = text(
    """
    WITH d AS (
        UPDATE han_devices SET status = :status, status_at = :at WHERE id = :id
        RETURNING id, esiid, mac_address
    )
    INSERT INTO han_device_history (device_id, esiid, mac_address, request_id, status,
                                    description, reported_by, status_at)
    SELECT id, esiid, mac_address, :request_id, :status, :description, :reporter, :at FROM d
    """
)

# The head-end acknowledged receipt: record it while the device still shows the request as
# acknowledged. FOR UPDATE makes a concurrent TDSP report finish first, and the condition is
# checked again on the row it left, so a receipt never lands after later statuses.
_RECORD_RECEIPT = text(
    """
    WITH dev AS (
        SELECT id, esiid, mac_address, status FROM han_devices
        WHERE (add_request_id = :request_id AND status = 'Add Acknowledged')
           OR (remove_request_id = :request_id AND status = 'Remove Acknowledged')
        FOR UPDATE
    )
    INSERT INTO han_device_history (device_id, esiid, mac_address, request_id, status,
                                    description, reported_by, status_at)
    SELECT id, esiid, mac_address, :request_id, status, :description, 'tdsp', :at FROM dev
    """
)


@dataclass(frozen=True)
class SlotUse:
    """The slots in use on the ESI ID and where the MAC is, and whether the device went in."""

    used: int
    mac_esiid: str | None
    mac_status: str | None
    inserted: bool


async def insert_device_if_allowed(
    session: AsyncSession,
    *,
    device_id: uuid.UUID,
    esiid: str,
    meter_number: str,
    tdsp_duns: str,
    rep_duns: str,
    mac: str,
    install_code: str,
    request_id: str,
    now: datetime,
    description: str,
    outbox_payload: dict[str, Any],
    max_devices: int,
) -> SlotUse:
    row = (
        await session.execute(
            _INSERT_DEVICE_IF_ALLOWED,
            {
                "id": device_id,
                "esiid": esiid,
                "meter_number": meter_number,
                "tdsp_duns": tdsp_duns,
                "rep_duns": rep_duns,
                "mac": mac,
                "install_code": install_code,
                "status": DeviceStatus.ADD_ACKNOWLEDGED.value,
                "request_id": request_id,
                "now": now,
                "description": description,
                "reporter": Reporter.REP.value,
                "operation": OutboxOperation.ADD_DEVICE.value,
                "payload": json.dumps(outbox_payload),
                "max_devices": max_devices,
            },
        )
    ).one()
    return SlotUse(used=row[0], mac_esiid=row[1], mac_status=row[2], inserted=row[3] == 1)


async def find_in_slot(session: AsyncSession, esiid: str, mac: str) -> DeviceRow | None:
    row = (await session.execute(_FIND_IN_SLOT, {"esiid": esiid, "mac": mac})).first()
    return None if row is None else DeviceRow(*row)


async def start_removal(
    session: AsyncSession,
    *,
    device_id: uuid.UUID,
    request_id: str,
    now: datetime,
    description: str,
    outbox_payload: dict[str, Any],
) -> None:
    await session.execute(
        _START_REMOVAL,
        {
            "id": device_id,
            "status": DeviceStatus.REMOVE_ACKNOWLEDGED.value,
            "request_id": request_id,
            "now": now,
            "description": description,
            "reporter": Reporter.REP.value,
            "operation": OutboxOperation.REMOVE_DEVICE.value,
            "payload": json.dumps(outbox_payload),
        },
    )


async def list_devices(session: AsyncSession, esiid: str) -> list[DeviceRow]:
    return [DeviceRow(*row) for row in (await session.execute(_LIST, {"esiid": esiid})).all()]


async def history(session: AsyncSession, esiid: str, mac: str | None) -> list[HistoryRow]:
    rows = (await session.execute(_HISTORY, {"esiid": esiid, "mac": mac})).all()
    return [HistoryRow(*row) for row in rows]


async def find_by_request(
    session: AsyncSession, request_id: str, tdsp_duns: str | None
) -> DeviceRow | None:
    row = (
        await session.execute(_FIND_BY_REQUEST, {"request_id": request_id, "tdsp_duns": tdsp_duns})
    ).first()
    return None if row is None else DeviceRow(*row)


async def set_status(
    session: AsyncSession,
    device: DeviceRow,
    *,
    status: DeviceStatus,
    request_id: str,
    description: str,
    reporter: Reporter,
    at: datetime,
) -> None:
    await session.execute(
        _SET_STATUS,
        {
            "id": device.id,
            "status": status.value,
            "at": at,
            "request_id": request_id,
            "description": description,
            "reporter": reporter.value,
        },
    )


async def record_receipt(
    session: AsyncSession, request_id: str, *, description: str, at: datetime
) -> None:
    await session.execute(
        _RECORD_RECEIPT, {"request_id": request_id, "description": description, "at": at}
    )
