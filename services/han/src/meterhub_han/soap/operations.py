"""The twelve REP operations: read the (already schema-valid) request, call, build the response.

Every request element reaching a handler has passed the XSD, so a handler only converts text
to values; the rules live in the devices and messages services.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from lxml import etree
from lxml.builder import ElementMaker
from sqlalchemy.ext.asyncio import AsyncSession

from meterhub_common.models.han import MAX_DEVICES_PER_ESIID, EventCategory
from meterhub_han.devices import service as devices
from meterhub_han.devices.repository import DeviceRow
from meterhub_han.devices.states import takes_slot
from meterhub_han.messages import service as messages
from meterhub_han.messages import smart_energy as se
from meterhub_han.messages.repository import LogRow
from meterhub_han.settings import HanSettings
from meterhub_han.soap.envelope import HAN_NS

E = ElementMaker(namespace=HAN_NS, nsmap={"han": HAN_NS})


@dataclass(frozen=True)
class Call:
    session: AsyncSession
    rep_duns: str
    settings: HanSettings


Handler = Callable[[Call, "Fields"], Awaitable[etree._Element]]

_FRACTION = re.compile(r"(\.\d{6})\d+")


class Fields:
    """A flat request element's children by local name, as text."""

    def __init__(self, element: etree._Element) -> None:
        self._values = {etree.QName(child).localname: (child.text or "") for child in element}

    def text(self, name: str) -> str:
        return self._values[name].strip()

    def optional(self, name: str) -> str | None:
        value = self._values.get(name)
        return None if value is None else value.strip()

    def integer(self, name: str) -> int:
        return int(self.text(name))

    def optional_int(self, name: str) -> int | None:
        value = self.optional(name)
        return None if value is None else int(value)

    def int_or(self, name: str, default: int) -> int:
        value = self.optional(name)
        return default if value is None else int(value)

    def boolean(self, name: str) -> bool:
        return (self.optional(name) or "false") in ("true", "1")

    def moment(self, name: str) -> datetime | None:
        value = self.optional(name)
        if value is None:
            return None
        # xs:dateTime allows any number of fraction digits; Python takes at most six.
        return datetime.fromisoformat(_FRACTION.sub(r"\1", value).replace("Z", "+00:00"))


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _device(device: DeviceRow) -> etree._Element:
    element = E.Device(
        E.MacAddress(device.mac_address),
        E.InstallCode(device.install_code),
        E.EsiId(device.esiid),
        E.MeterNumber(device.meter_number),
        E.Status(device.status),
        E.TakesSlot(_bool(takes_slot(device.status))),
        E.StatusTimestamp(_iso(device.status_at)),
        E.AddRequestId(device.add_request_id),
    )
    if device.remove_request_id:
        element.append(E.RemoveRequestId(device.remove_request_id))
    return element


def _receipt(receipt: messages.Receipt) -> etree._Element:
    element = E.Receipt()
    if receipt.request_id:
        element.append(E.RequestId(receipt.request_id))
    if receipt.cancellation_id:
        element.append(E.CancellationId(receipt.cancellation_id))
    element.extend(
        [
            E.EventCategory(receipt.category.value),
            E.SmartEnergyId(str(receipt.se_id)),
            E.EsiId(receipt.esiid),
            E.MeterNumber(receipt.meter_number),
            E.StatusCode(receipt.status),
            E.MessageStatusId(str(receipt.status_id)),
            E.MessageDate(_iso(receipt.message_date)),
        ]
    )
    return element


def _log_row(row: LogRow) -> etree._Element:
    cancel = row.category in ("CLE", "CAL", "CSM")
    request_id = row.target_reference_id if cancel else row.reference_id
    element = E.Row(E.TDSPDUNSNumber(row.tdsp_duns), E.MessageDate(_iso(row.message_date)))
    if request_id:
        element.append(E.RequestID(request_id))
    if cancel:
        element.append(E.MessageCancellationID(row.reference_id))
    element.extend(
        [
            E.MessageStatusID(str(row.message_status_id)),
            E.ESIID(row.esiid),
            E.MeterSerialNumber(row.meter_number),
        ]
    )
    if row.device_mac:
        element.append(E.DeviceMACAddr(row.device_mac))
    element.extend(
        [
            E.EventCategoryID(row.category),
            E.StatusCode(row.status_code),
            E.StatusDesc(row.status_desc),
            E.StatusTimestamp(_iso(row.status_at)),
        ]
    )
    return element


async def provision_device(call: Call, f: Fields) -> etree._Element:
    result = await devices.provision(
        call.session,
        rep_duns=call.rep_duns,
        esiid=f.text("EsiId"),
        meter_number=f.optional("MeterNumber"),
        mac_address=f.text("MacAddress"),
        install_code=f.text("InstallCode"),
    )
    return E.ProvisionDeviceResponse(E.RequestId(result.request_id), _device(result.device))


async def deprovision_device(call: Call, f: Fields) -> etree._Element:
    result = await devices.deprovision(
        call.session,
        rep_duns=call.rep_duns,
        esiid=f.text("EsiId"),
        mac_address=f.text("MacAddress"),
    )
    return E.DeprovisionDeviceResponse(E.RequestId(result.request_id), _device(result.device))


async def get_devices(call: Call, f: Fields) -> etree._Element:
    esiid = f.text("EsiId")
    rows = await devices.devices(call.session, rep_duns=call.rep_duns, esiid=esiid)
    used = sum(1 for row in rows if takes_slot(row.status))
    return E.GetDevicesResponse(
        E.EsiId(esiid),
        E.SlotsUsed(str(used)),
        E.SlotsLimit(str(MAX_DEVICES_PER_ESIID)),
        *[_device(row) for row in rows],
    )


async def get_device_history(call: Call, f: Fields) -> etree._Element:
    esiid = f.text("EsiId")
    rows = await devices.device_history(
        call.session, rep_duns=call.rep_duns, esiid=esiid, mac_address=f.optional("MacAddress")
    )
    return E.GetDeviceHistoryResponse(
        E.EsiId(esiid),
        *[
            E.Entry(
                E.MacAddress(row.mac_address),
                E.RequestId(row.request_id),
                E.Status(row.status),
                E.Description(row.description),
                E.StatusTimestamp(_iso(row.status_at)),
                E.ReportedBy(row.reported_by),
            )
            for row in rows
        ],
    )


async def _send(
    call: Call, f: Fields, message: se.PriceMessage | se.LoadControlEvent | se.TextMessage
) -> messages.Receipt:
    return await messages.send(
        call.session,
        rep_duns=call.rep_duns,
        esiid=f.text("EsiId"),
        meter_number=f.optional("MeterNumber"),
        message=message,
    )


async def send_price_message(call: Call, f: Fields) -> etree._Element:
    price = se.PriceMessage(
        provider_id=f.integer("ProviderId"),
        rate_label=f.text("RateLabel"),
        unit_of_measure=f.int_or("UnitOfMeasure", 0),
        currency=f.int_or("Currency", 840),
        price_trailing_digit=f.integer("PriceTrailingDigit"),
        price_tier=f.integer("PriceTier"),
        number_of_price_tiers=f.integer("NumberOfPriceTiers"),
        register_tier=f.integer("RegisterTier"),
        start_time=f.moment("StartTime"),
        duration_minutes=f.int_or("DurationInMinutes", se.UNTIL_CHANGED),
        price=f.integer("Price"),
        price_ratio=f.optional_int("PriceRatio"),
        generation_price=f.optional_int("GenerationPrice"),
        generation_price_ratio=f.optional_int("GenerationPriceRatio"),
    )
    return E.SendPriceMessageResponse(_receipt(await _send(call, f, price)))


async def send_load_control_event(call: Call, f: Fields) -> etree._Element:
    event = se.LoadControlEvent(
        device_class=f.integer("DeviceClass"),
        utility_enrollment_group=f.int_or("UtilityEnrollmentGroup", 0),
        start_time=f.moment("StartTime"),
        duration_minutes=f.integer("DurationInMinutes"),
        criticality_level=f.integer("CriticalityLevel"),
        cooling_temperature_offset=f.optional_int("CoolingTemperatureOffset"),
        heating_temperature_offset=f.optional_int("HeatingTemperatureOffset"),
        cooling_temperature_set_point=f.optional_int("CoolingTemperatureSetPoint"),
        heating_temperature_set_point=f.optional_int("HeatingTemperatureSetPoint"),
        average_load_adjustment_percentage=f.optional_int("AverageLoadAdjustmentPercentage"),
        duty_cycle=f.optional_int("DutyCycle"),
        randomize_start=f.boolean("RandomizeStartTime"),
        randomize_end=f.boolean("RandomizeEndTime"),
    )
    return E.SendLoadControlEventResponse(_receipt(await _send(call, f, event)))


async def send_text_message(call: Call, f: Fields) -> etree._Element:
    importance = (f.optional("Importance") or "Low").upper()
    text = se.TextMessage(
        text=f.text("Text"),
        importance=se.Importance[importance],
        confirmation_required=f.boolean("ConfirmationRequired"),
        start_time=f.moment("StartTime"),
        duration_minutes=f.int_or("DurationInMinutes", se.UNTIL_CHANGED),
    )
    return E.SendTextMessageResponse(_receipt(await _send(call, f, text)))


async def cancel_load_control_event(call: Call, f: Fields) -> etree._Element:
    receipt = await messages.cancel_load_control_event(
        call.session,
        rep_duns=call.rep_duns,
        request_id=f.text("RequestId"),
        randomize_end=f.boolean("RandomizeEndTime"),
        effective_time=f.moment("EffectiveTime"),
    )
    return E.CancelLoadControlEventResponse(_receipt(receipt))


async def cancel_all_load_control_events(call: Call, f: Fields) -> etree._Element:
    receipt = await messages.cancel_all_load_control_events(
        call.session,
        rep_duns=call.rep_duns,
        esiid=f.text("EsiId"),
        meter_number=f.optional("MeterNumber"),
        randomize_end=f.boolean("RandomizeEndTime"),
    )
    return E.CancelAllLoadControlEventsResponse(_receipt(receipt))


async def cancel_text_message(call: Call, f: Fields) -> etree._Element:
    receipt = await messages.cancel_text_message(
        call.session, rep_duns=call.rep_duns, request_id=f.text("RequestId")
    )
    return E.CancelTextMessageResponse(_receipt(receipt))


async def get_message_status(call: Call, f: Fields) -> etree._Element:
    status = await messages.message_status(
        call.session, rep_duns=call.rep_duns, reference_id=f.text("Id")
    )
    return E.GetMessageStatusResponse(
        _receipt(status.receipt),
        E.StatusDesc(status.status_desc),
        E.StatusTimestamp(_iso(status.status_at)),
        *[
            E.DeviceStatus(
                E.MacAddress(row.device_mac or ""),
                E.StatusCode(row.status_code),
                E.StatusDesc(row.status_desc),
                E.StatusTimestamp(_iso(row.status_at)),
            )
            for row in status.device_statuses
        ],
        *[_log_row(row) for row in status.log],
    )


async def get_messaging_log(call: Call, f: Fields) -> etree._Element:
    category = f.optional("EventCategory")
    start, end = f.moment("From"), f.moment("To")
    assert start is not None and end is not None  # required by the schema
    rows, truncated = await messages.messaging_log(
        call.session,
        rep_duns=call.rep_duns,
        start=start,
        end=end,
        esiid=f.optional("EsiId"),
        category=None if category is None else EventCategory(category),
        max_rows=f.int_or("MaxRows", 1000),
        row_limit=call.settings.messaging_log_max_rows,
        max_days=call.settings.messaging_log_max_days,
    )
    return E.GetMessagingLogResponse(E.Truncated(_bool(truncated)), *[_log_row(r) for r in rows])


OPERATIONS: dict[str, Handler] = {
    "ProvisionDevice": provision_device,
    "DeprovisionDevice": deprovision_device,
    "GetDevices": get_devices,
    "GetDeviceHistory": get_device_history,
    "SendPriceMessage": send_price_message,
    "SendLoadControlEvent": send_load_control_event,
    "CancelLoadControlEvent": cancel_load_control_event,
    "CancelAllLoadControlEvents": cancel_all_load_control_events,
    "SendTextMessage": send_text_message,
    "CancelTextMessage": cancel_text_message,
    "GetMessageStatus": get_message_status,
    "GetMessagingLog": get_messaging_log,
}
