"""Smart Energy messaging rules: send, cancel, status, messaging log, TDSP status reports."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.errors import Conflict, NotFound, Unprocessable
from meterhub_common.models.han import (
    CANCEL_CATEGORIES,
    EventCategory,
    MessageStatusCode,
    OutboxOperation,
    Reporter,
)
from meterhub_han import ids
from meterhub_han.devices.install_code import normalize_mac
from meterhub_han.errors import LimitExceeded
from meterhub_han.market.repository import RepScope
from meterhub_han.market.service import choose_meter, require_rep_of_record
from meterhub_han.messages import repository as repo
from meterhub_han.messages import smart_energy as se
from meterhub_han.messages.repository import LogRow, MessageRow
from meterhub_han.messages.states import DESCRIPTIONS, refusal
from meterhub_han.status import ReportOutcome

log = logging.getLogger(__name__)

# The head-end element each category's Smart Energy command travels in.
COMMAND_ELEMENT: dict[EventCategory, str] = {
    EventCategory.PRM: "PublishPrice",
    EventCategory.LCE: "LoadControlEvent",
    EventCategory.STM: "DisplayMessage",
    EventCategory.CLE: "CancelLoadControlEvent",
    EventCategory.CAL: "CancelAllLoadControlEvents",
    EventCategory.CSM: "CancelDisplayMessage",
}


@dataclass(frozen=True)
class Receipt:
    """What a REP gets back for a message or cancellation it sent."""

    reference_id: str
    target_reference_id: str | None
    category: EventCategory
    se_id: int
    esiid: str
    meter_number: str
    status: str
    status_id: int
    message_date: datetime

    @property
    def request_id(self) -> str | None:
        return (
            self.target_reference_id if self.category in CANCEL_CATEGORIES else (self.reference_id)
        )

    @property
    def cancellation_id(self) -> str | None:
        return self.reference_id if self.category in CANCEL_CATEGORIES else None


async def _accept(
    session: AsyncSession,
    *,
    scope: RepScope,
    meter_number: str,
    rep_duns: str,
    category: EventCategory,
    build: Callable[[int, datetime], dict[str, Any]],
    target: MessageRow | None = None,
) -> Receipt:
    cancel = category in CANCEL_CATEGORIES
    reference_id = (ids.cancellation_id if cancel else ids.request_id)(scope.next_id)
    se_id = ids.smart_energy_id(scope.next_id)
    now = datetime.now(UTC)
    command = build(se_id, now)
    outbox_payload: dict[str, Any] = {
        "RequestId": reference_id,
        "EsiId": scope.esiid,
        "MeterNumber": meter_number,
    }
    if target is not None:
        outbox_payload["TargetRequestId"] = target.reference_id
    element = COMMAND_ELEMENT[category]
    outbox_payload[element] = command
    inserted = await repo.insert(
        session,
        reference_id=reference_id,
        target_reference_id=None if target is None else target.reference_id,
        category=category.value,
        esiid=scope.esiid,
        meter_number=meter_number,
        tdsp_duns=scope.tdsp_duns,
        rep_duns=rep_duns,
        se_id=se_id,
        payload={element: command},
        now=now,
        description=DESCRIPTIONS[MessageStatusCode.RQA],
        operation=OutboxOperation.CANCEL_MESSAGE if cancel else OutboxOperation.SEND_MESSAGE,
        outbox_payload=outbox_payload,
    )
    await session.commit()
    return Receipt(
        reference_id=reference_id,
        target_reference_id=None if target is None else target.reference_id,
        category=category,
        se_id=se_id,
        esiid=scope.esiid,
        meter_number=meter_number,
        status=MessageStatusCode.RQA.value,
        status_id=inserted.status_id,
        message_date=now,
    )


async def send(
    session: AsyncSession,
    *,
    rep_duns: str,
    esiid: str,
    meter_number: str | None,
    message: se.PriceMessage | se.LoadControlEvent | se.TextMessage,
) -> Receipt:
    build: Callable[[int, datetime], dict[str, Any]]
    if isinstance(message, se.PriceMessage):
        category, build = EventCategory.PRM, message.publish_price
    elif isinstance(message, se.LoadControlEvent):
        category, build = EventCategory.LCE, message.load_control_event
    else:
        category, build = EventCategory.STM, message.display_message
    # Fields are checked before the ESI ID so a bad message says so whoever's ESI ID it names.
    build(1, datetime.now(UTC))
    scope = await require_rep_of_record(session, esiid, rep_duns)
    meter = choose_meter(scope, meter_number)
    return await _accept(
        session,
        scope=scope,
        meter_number=meter,
        rep_duns=rep_duns,
        category=category,
        build=build,
    )


async def _cancel_target(
    session: AsyncSession, rep_duns: str, request_id: str, category: EventCategory
) -> tuple[MessageRow, RepScope]:
    target = await repo.find_own(session, request_id, rep_duns)
    what = "load control event" if category is EventCategory.LCE else "text message"
    if target is None or target.category != category.value:
        raise NotFound(f"you sent no {what} with request id {request_id}")
    scope = await require_rep_of_record(session, target.esiid, rep_duns, lock=True)
    if target.status == MessageStatusCode.FLR.value:
        raise Conflict(f"{what} {request_id} already failed delivery; there is nothing to cancel")
    existing = await repo.active_cancellation(session, request_id)
    if existing is not None:
        raise Conflict(f"{what} {request_id} is already being cancelled by {existing}")
    return target, scope


async def cancel_load_control_event(
    session: AsyncSession,
    *,
    rep_duns: str,
    request_id: str,
    randomize_end: bool,
    effective_time: datetime | None,
) -> Receipt:
    se.zigbee_time(effective_time, "EffectiveTime")
    target, scope = await _cancel_target(session, rep_duns, request_id, EventCategory.LCE)
    event = target.payload["LoadControlEvent"]
    return await _accept(
        session,
        scope=scope,
        meter_number=target.meter_number,
        rep_duns=rep_duns,
        category=EventCategory.CLE,
        build=lambda _id, _now: se.cancel_load_control_event(event, randomize_end, effective_time),
        target=target,
    )


async def cancel_all_load_control_events(
    session: AsyncSession,
    *,
    rep_duns: str,
    esiid: str,
    meter_number: str | None,
    randomize_end: bool,
) -> Receipt:
    scope = await require_rep_of_record(session, esiid, rep_duns)
    meter = choose_meter(scope, meter_number)
    return await _accept(
        session,
        scope=scope,
        meter_number=meter,
        rep_duns=rep_duns,
        category=EventCategory.CAL,
        build=lambda _id, _now: se.cancel_all_load_control_events(randomize_end),
    )


async def cancel_text_message(session: AsyncSession, *, rep_duns: str, request_id: str) -> Receipt:
    target, scope = await _cancel_target(session, rep_duns, request_id, EventCategory.STM)
    message = target.payload["DisplayMessage"]
    return await _accept(
        session,
        scope=scope,
        meter_number=target.meter_number,
        rep_duns=rep_duns,
        category=EventCategory.CSM,
        build=lambda _id, _now: se.cancel_message(message),
        target=target,
    )


@dataclass(frozen=True)
class MessageStatus:
    receipt: Receipt
    status_desc: str
    status_at: datetime
    device_statuses: list[LogRow]
    log: list[LogRow]


async def message_status(
    session: AsyncSession, *, rep_duns: str, reference_id: str
) -> MessageStatus:
    message = await repo.find_own(session, reference_id, rep_duns)
    if message is None:
        raise NotFound(f"you sent no message or cancellation with id {reference_id}")
    rows = await repo.status_log(session, message.id)
    overall = [r for r in rows if r.device_mac is None]
    current = overall[-1]
    latest_per_device: dict[str, LogRow] = {}
    for row in rows:
        if row.device_mac is not None:
            latest_per_device[row.device_mac] = row
    receipt = Receipt(
        reference_id=message.reference_id,
        target_reference_id=message.target_reference_id,
        category=EventCategory(message.category),
        se_id=message.se_id,
        esiid=message.esiid,
        meter_number=message.meter_number,
        status=message.status,
        status_id=current.message_status_id,
        message_date=message.created_at,
    )
    return MessageStatus(
        receipt=receipt,
        status_desc=current.status_desc,
        status_at=current.status_at,
        device_statuses=sorted(latest_per_device.values(), key=lambda r: r.device_mac or ""),
        log=rows,
    )


async def messaging_log(
    session: AsyncSession,
    *,
    rep_duns: str,
    start: datetime,
    end: datetime,
    esiid: str | None,
    category: EventCategory | None,
    max_rows: int,
    row_limit: int,
    max_days: int,
) -> tuple[list[LogRow], bool]:
    """The caller's own messaging log rows in ``[start, end)``; True if more rows exist."""
    if start.tzinfo is None or end.tzinfo is None:
        raise Unprocessable("From and To must carry a UTC offset")
    if end <= start:
        raise Unprocessable("To must be later than From")
    if end - start > timedelta(days=max_days):
        raise LimitExceeded(f"a messaging log covers at most {max_days} days; ask in parts")
    if max_rows > row_limit:
        raise LimitExceeded(f"MaxRows may be at most {row_limit}")
    rows = await repo.messaging_log(
        session,
        rep_duns=rep_duns,
        start=start,
        end=end,
        esiid=esiid,
        category=None if category is None else category.value,
        limit=max_rows + 1,
    )
    return rows[:max_rows], len(rows) > max_rows


async def apply_tdsp_status(
    session: AsyncSession,
    message: MessageRow,
    *,
    reported: MessageStatusCode,
    device_mac: str | None,
    description: str,
    at: datetime,
) -> ReportOutcome:
    """Check a TDSP's report on ``message`` (locked by the caller) and apply it if allowed."""
    category = EventCategory(message.category)
    if device_mac is None:
        current = MessageStatusCode(message.status)
        if reported is current:
            return ReportOutcome(applied=False, current=current.value)
        reason = refusal(category, current, reported)
        if reason is not None:
            return ReportOutcome(applied=False, current=current.value, refused=reason)
        await repo.set_status(
            session,
            message,
            status=reported,
            description=description,
            reporter=Reporter.TDSP,
            at=at,
        )
        return ReportOutcome(applied=True, current=reported.value)
    mac = normalize_mac(device_mac)
    if not await repo.device_on_esiid(session, message.esiid, mac):
        return ReportOutcome(
            applied=False,
            current=message.status,
            refused=f"device {mac} has never been provisioned to ESI ID {message.esiid}",
        )
    latest = await repo.latest_device_status(session, message.id, mac)
    device_current = None if latest is None else MessageStatusCode(latest)
    if reported is device_current:
        return ReportOutcome(applied=False, current=reported.value)
    reason = refusal(category, device_current, reported)
    if reason is not None:
        shown = "none" if device_current is None else device_current.value
        return ReportOutcome(applied=False, current=shown, refused=f"device {mac}: {reason}")
    await repo.add_device_status(
        session,
        message,
        mac=mac,
        status=reported,
        description=description,
        reporter=Reporter.TDSP,
        at=at,
    )
    return ReportOutcome(applied=True, current=reported.value)


async def record_headend_answer(
    session: AsyncSession, reference_id: str, *, accepted: bool, reason: str | None
) -> None:
    """The head-end's synchronous answer to SendMessage/CancelMessage: ACK, or FLR if refused."""
    if accepted:
        await repo.acknowledge(
            session,
            reference_id,
            description=DESCRIPTIONS[MessageStatusCode.ACK],
            at=datetime.now(UTC),
        )
        return
    message = await repo.find_for_update(session, reference_id, None)
    if message is None:
        log.error("head-end answered message %s that does not exist", reference_id)
        return
    description = f"Rejected by TDSP: {reason or 'no reason given'}"
    outcome = await apply_tdsp_status(
        session,
        message,
        reported=MessageStatusCode.FLR,
        device_mac=None,
        description=description,
        at=datetime.now(UTC),
    )
    if outcome.refused:
        log.warning("head-end answer for %s not applied: %s", reference_id, outcome.refused)
