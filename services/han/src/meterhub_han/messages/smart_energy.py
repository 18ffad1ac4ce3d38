"""ZigBee Smart Energy 1.0 messages: the REP's fields checked and turned into wire values.

The XSD already bounds every field; what a schema cannot say is checked here (a time that
fits ZigBee's clock, an event that is not already over, tiers within the number of tiers, a
text that fits in 59 bytes). The results are the head-end contract's elements, with Smart
Energy's sentinels for "not used" and ZigBee UTCTime (seconds since 2000-01-01 UTC, 0 = now).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Final

from meterhub_common.errors import Unprocessable

ZIGBEE_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)
NOW: Final = 0
UNTIL_CHANGED: Final = 0xFFFF
MAX_EVENT_MINUTES: Final = 1440
MAX_TEXT_BYTES: Final = 59

UINT8_NOT_USED: Final = 0xFF
UINT32_NOT_USED: Final = 0xFFFFFFFF
SET_POINT_NOT_USED: Final = -0x8000
LOAD_ADJUSTMENT_NOT_USED: Final = -0x80

# LoadControlEvent event control / CancelLoadControlEvent cancel control bits.
RANDOMIZE_START: Final = 0x01
RANDOMIZE_END: Final = 0x02
CANCEL_RANDOMIZE_END: Final = 0x01

# DisplayMessage message control: bits 0-1 transmission (0 = normal), bits 2-3 importance,
# bit 7 confirmation required.
CONFIRMATION_REQUIRED: Final = 0x80


class Importance(IntEnum):
    LOW = 0
    MEDIUM = 1
    HIGH = 2
    CRITICAL = 3


Payload = dict[str, int | str]


def zigbee_time(moment: datetime | None, field: str) -> int:
    """ZigBee UTCTime of ``moment``; None (start now) is 0."""
    if moment is None:
        return NOW
    if moment.tzinfo is None:
        raise Unprocessable(f"{field} must carry a UTC offset")
    seconds = int((moment - ZIGBEE_EPOCH).total_seconds())
    if not 0 < seconds < UINT32_NOT_USED:
        raise Unprocessable(
            f"{field} {moment.isoformat()} is outside the ZigBee clock (2000-01-01 to 2136)"
        )
    return seconds


def _not_over(start: datetime | None, minutes: int, now: datetime, what: str) -> None:
    if start is None or minutes == UNTIL_CHANGED:
        return
    if start + timedelta(minutes=minutes) <= now:
        raise Unprocessable(
            f"the {what} starting {start.isoformat()} for {minutes} minutes would already be over"
        )


@dataclass(frozen=True)
class PriceMessage:
    provider_id: int
    rate_label: str
    unit_of_measure: int
    currency: int
    price_trailing_digit: int
    price_tier: int
    number_of_price_tiers: int
    register_tier: int
    start_time: datetime | None
    duration_minutes: int
    price: int
    price_ratio: int | None
    generation_price: int | None
    generation_price_ratio: int | None

    def publish_price(self, issuer_event_id: int, now: datetime) -> Payload:
        label = self.rate_label
        if not (1 <= len(label) <= 12 and label.isascii() and label.isprintable()):
            raise Unprocessable("RateLabel must be 1 to 12 printable ASCII characters")
        if self.number_of_price_tiers:
            for name, tier in (
                ("PriceTier", self.price_tier),
                ("RegisterTier", self.register_tier),
            ):
                if tier > self.number_of_price_tiers:
                    raise Unprocessable(
                        f"{name} {tier} is above NumberOfPriceTiers {self.number_of_price_tiers}"
                    )
        _not_over(self.start_time, self.duration_minutes, now, "price")
        return {
            "ProviderId": self.provider_id,
            "RateLabel": label,
            "IssuerEventId": issuer_event_id,
            "CurrentTime": zigbee_time(now, "current time"),
            "UnitOfMeasure": self.unit_of_measure,
            "Currency": self.currency,
            "PriceTrailingDigitAndPriceTier": (self.price_trailing_digit << 4) | self.price_tier,
            "NumberOfPriceTiersAndRegisterTier": (self.number_of_price_tiers << 4)
            | self.register_tier,
            "StartTime": zigbee_time(self.start_time, "StartTime"),
            "DurationInMinutes": self.duration_minutes,
            "Price": self.price,
            "PriceRatio": _or(self.price_ratio, UINT8_NOT_USED),
            "GenerationPrice": _or(self.generation_price, UINT32_NOT_USED),
            "GenerationPriceRatio": _or(self.generation_price_ratio, UINT8_NOT_USED),
        }


@dataclass(frozen=True)
class LoadControlEvent:
    device_class: int
    utility_enrollment_group: int
    start_time: datetime | None
    duration_minutes: int
    criticality_level: int
    cooling_temperature_offset: int | None
    heating_temperature_offset: int | None
    cooling_temperature_set_point: int | None
    heating_temperature_set_point: int | None
    average_load_adjustment_percentage: int | None
    duty_cycle: int | None
    randomize_start: bool
    randomize_end: bool

    def load_control_event(self, issuer_event_id: int, now: datetime) -> Payload:
        if not 1 <= self.device_class <= 0x0FFF:
            raise Unprocessable("DeviceClass must set at least one of bits 0 to 11, no other")
        if not 1 <= self.duration_minutes <= MAX_EVENT_MINUTES:
            raise Unprocessable(f"DurationInMinutes must be 1 to {MAX_EVENT_MINUTES}")
        if not 1 <= self.criticality_level <= 15:
            raise Unprocessable("CriticalityLevel must be 1 to 15")
        _not_over(self.start_time, self.duration_minutes, now, "load control event")
        control = (RANDOMIZE_START if self.randomize_start else 0) | (
            RANDOMIZE_END if self.randomize_end else 0
        )
        return {
            "IssuerEventId": issuer_event_id,
            "DeviceClass": self.device_class,
            "UtilityEnrollmentGroup": self.utility_enrollment_group,
            "StartTime": zigbee_time(self.start_time, "StartTime"),
            "DurationInMinutes": self.duration_minutes,
            "CriticalityLevel": self.criticality_level,
            "CoolingTemperatureOffset": _or(self.cooling_temperature_offset, UINT8_NOT_USED),
            "HeatingTemperatureOffset": _or(self.heating_temperature_offset, UINT8_NOT_USED),
            "CoolingTemperatureSetPoint": _or(
                self.cooling_temperature_set_point, SET_POINT_NOT_USED
            ),
            "HeatingTemperatureSetPoint": _or(
                self.heating_temperature_set_point, SET_POINT_NOT_USED
            ),
            "AverageLoadAdjustmentPercentage": _or(
                self.average_load_adjustment_percentage, LOAD_ADJUSTMENT_NOT_USED
            ),
            "DutyCycle": _or(self.duty_cycle, UINT8_NOT_USED),
            "EventControl": control,
        }


@dataclass(frozen=True)
class TextMessage:
    text: str
    importance: Importance
    confirmation_required: bool
    start_time: datetime | None
    duration_minutes: int

    def message_control(self) -> int:
        return (self.importance.value << 2) | (
            CONFIRMATION_REQUIRED if self.confirmation_required else 0
        )

    def display_message(self, message_id: int, now: datetime) -> Payload:
        size = len(self.text.encode("utf-8"))
        if not self.text.strip():
            raise Unprocessable("Text must not be blank")
        if size > MAX_TEXT_BYTES:
            raise Unprocessable(
                f"Text is {size} bytes in UTF-8; a Smart Energy display message here holds at "
                f"most {MAX_TEXT_BYTES}"
            )
        if any(ord(ch) < 0x20 and ch not in "\n" for ch in self.text):
            raise Unprocessable("Text may not contain control characters other than newline")
        _not_over(self.start_time, self.duration_minutes, now, "text message")
        return {
            "MessageId": message_id,
            "MessageControl": self.message_control(),
            "StartTime": zigbee_time(self.start_time, "StartTime"),
            "DurationInMinutes": self.duration_minutes,
            "Message": self.text,
        }


def cancel_load_control_event(
    event: Payload, randomize_end: bool, effective_time: datetime | None
) -> Payload:
    """Smart Energy CancelLoadControlEvent for the LoadControlEvent ``event`` we sent."""
    return {
        "IssuerEventId": event["IssuerEventId"],
        "DeviceClass": event["DeviceClass"],
        "UtilityEnrollmentGroup": event["UtilityEnrollmentGroup"],
        "CancelControl": CANCEL_RANDOMIZE_END if randomize_end else 0,
        "EffectiveTime": zigbee_time(effective_time, "EffectiveTime"),
    }


def cancel_all_load_control_events(randomize_end: bool) -> Payload:
    return {"CancelControl": CANCEL_RANDOMIZE_END if randomize_end else 0}


def cancel_message(message: Payload) -> Payload:
    """Smart Energy CancelMessage for the DisplayMessage ``message`` we sent."""
    return {"MessageId": message["MessageId"], "MessageControl": message["MessageControl"]}


def _or(value: int | None, sentinel: int) -> int:
    return sentinel if value is None else value
