"""HAN device rules: provisioning, deprovisioning, listing, history, and TDSP status reports."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.errors import Conflict, NotFound
from meterhub_common.models.han import MAX_DEVICES_PER_ESIID, DeviceStatus, Reporter
from meterhub_han import ids
from meterhub_han.devices import repository as repo
from meterhub_han.devices.install_code import normalize_install_code, normalize_mac
from meterhub_han.devices.repository import DeviceRow, HistoryRow
from meterhub_han.devices.states import REMOVABLE, Phase, refusal
from meterhub_han.errors import LimitExceeded
from meterhub_han.market.service import choose_meter, require_rep_of_record
from meterhub_han.status import ReportOutcome

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceRequest:
    request_id: str
    device: DeviceRow


async def provision(
    session: AsyncSession,
    *,
    rep_duns: str,
    esiid: str,
    meter_number: str | None,
    mac_address: str,
    install_code: str,
) -> DeviceRequest:
    mac = normalize_mac(mac_address)
    code = normalize_install_code(install_code)
    scope = await require_rep_of_record(session, esiid, rep_duns, lock=True)
    meter = choose_meter(scope, meter_number)
    request_id = ids.request_id(scope.next_id)
    now = datetime.now(UTC)
    device = DeviceRow(
        id=uuid.uuid4(),
        esiid=scope.esiid,
        meter_number=meter,
        tdsp_duns=scope.tdsp_duns,
        rep_duns=rep_duns,
        mac_address=mac,
        install_code=code,
        status=DeviceStatus.ADD_ACKNOWLEDGED.value,
        add_request_id=request_id,
        remove_request_id=None,
        status_at=now,
    )
    try:
        use = await repo.insert_device_if_allowed(
            session,
            device_id=device.id,
            esiid=scope.esiid,
            meter_number=meter,
            tdsp_duns=scope.tdsp_duns,
            rep_duns=rep_duns,
            mac=mac,
            install_code=code,
            request_id=request_id,
            now=now,
            description="Provisioning request accepted",
            outbox_payload={
                "RequestId": request_id,
                "EsiId": scope.esiid,
                "MeterNumber": meter,
                "MacAddress": mac,
                "InstallCode": code,
            },
            max_devices=MAX_DEVICES_PER_ESIID,
        )
    except IntegrityError as exc:
        # Two REPs racing to provision one MAC on two ESI IDs: the unique index decides.
        await session.rollback()
        raise Conflict(
            f"device {mac} is provisioned to another meter; it must be removed there first"
        ) from exc
    if not use.inserted:
        await session.rollback()
        if use.mac_esiid == scope.esiid:
            raise Conflict(f"device {mac} is already on ESI ID {scope.esiid} ({use.mac_status})")
        if use.mac_esiid is not None:
            raise Conflict(
                f"device {mac} is provisioned to another meter; it must be removed there first"
            )
        raise LimitExceeded(
            f"ESI ID {scope.esiid} already has {use.used} HAN devices in statuses that take a "
            f"slot; at most {MAX_DEVICES_PER_ESIID} are allowed"
        )
    await session.commit()
    return DeviceRequest(request_id=request_id, device=device)


async def deprovision(
    session: AsyncSession, *, rep_duns: str, esiid: str, mac_address: str
) -> DeviceRequest:
    mac = normalize_mac(mac_address)
    scope = await require_rep_of_record(session, esiid, rep_duns, lock=True)
    device = await repo.find_in_slot(session, scope.esiid, mac)
    if device is None:
        raise NotFound(f"ESI ID {scope.esiid} has no HAN device {mac} to remove")
    if DeviceStatus(device.status) not in REMOVABLE:
        allowed = ", ".join(sorted(s.value for s in REMOVABLE))
        raise Conflict(
            f"device {mac} is in status {device.status!r}; it can be removed from {allowed}"
        )
    request_id = ids.request_id(scope.next_id)
    now = datetime.now(UTC)
    await repo.start_removal(
        session,
        device_id=device.id,
        request_id=request_id,
        now=now,
        description="Deprovisioning request accepted",
        outbox_payload={
            "RequestId": request_id,
            "EsiId": device.esiid,
            "MeterNumber": device.meter_number,
            "MacAddress": device.mac_address,
        },
    )
    await session.commit()
    removed = DeviceRow(
        **{
            **device.__dict__,
            "status": DeviceStatus.REMOVE_ACKNOWLEDGED.value,
            "remove_request_id": request_id,
            "status_at": now,
        }
    )
    return DeviceRequest(request_id=request_id, device=removed)


async def devices(session: AsyncSession, *, rep_duns: str, esiid: str) -> list[DeviceRow]:
    scope = await require_rep_of_record(session, esiid, rep_duns)
    return await repo.list_devices(session, scope.esiid)


async def device_history(
    session: AsyncSession, *, rep_duns: str, esiid: str, mac_address: str | None
) -> list[HistoryRow]:
    mac = normalize_mac(mac_address) if mac_address else None
    scope = await require_rep_of_record(session, esiid, rep_duns)
    return await repo.history(session, scope.esiid, mac)


async def apply_tdsp_status(
    session: AsyncSession,
    device: DeviceRow,
    *,
    request_id: str,
    reported: DeviceStatus,
    description: str,
    at: datetime,
) -> ReportOutcome:
    """Check a TDSP's report for ``device`` (locked by the caller) and apply it if allowed."""
    current = DeviceStatus(device.status)
    phase = Phase.ADD if request_id == device.add_request_id else Phase.REMOVE
    if reported is current:
        return ReportOutcome(applied=False, current=current.value)
    reason = refusal(current, reported, phase)
    if reason is not None:
        return ReportOutcome(applied=False, current=current.value, refused=reason)
    await repo.set_status(
        session,
        device,
        status=reported,
        request_id=request_id,
        description=description,
        reporter=Reporter.TDSP,
        at=at,
    )
    return ReportOutcome(applied=True, current=reported.value)


async def record_headend_answer(
    session: AsyncSession, request_id: str, *, accepted: bool, reason: str | None
) -> None:
    """The head-end's synchronous answer to AddDevice/RemoveDevice (the worker calls this).

    Accepted: the TDSP acknowledged receipt, which seed 004 still shows as Add (Remove)
    Acknowledged, so only the history records it. Refused: Add (Remove) Rejected.
    """
    now = datetime.now(UTC)
    if accepted:
        await repo.record_receipt(
            session, request_id, description="TDSP acknowledged receipt of the request", at=now
        )
        return
    device = await repo.find_by_request(session, request_id, None)
    if device is None:
        log.error("head-end answered request %s that no device has", request_id)
        return
    phase = Phase.ADD if request_id == device.add_request_id else Phase.REMOVE
    rejected = DeviceStatus.ADD_REJECTED if phase is Phase.ADD else DeviceStatus.REMOVE_REJECTED
    outcome = await apply_tdsp_status(
        session,
        device,
        request_id=request_id,
        reported=rejected,
        description=f"Rejected by TDSP: {reason or 'no reason given'}",
        at=now,
    )
    if outcome.refused:
        log.warning("head-end rejection of %s not applied: %s", request_id, outcome.refused)
