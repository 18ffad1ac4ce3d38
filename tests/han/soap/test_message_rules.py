"""Smart Energy messaging rules, with zeep as the REP's client (over the ASGI transport)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from zeep.exceptions import Fault


def code_of(fault: Fault) -> str:
    return (fault.code or "").split(":")[-1]


async def outbox_payload(han: Any, reference_id: str) -> dict[str, Any]:
    value = await han.connection.scalar(
        text("SELECT payload FROM han_outbox WHERE idempotency_key = :r"), {"r": reference_id}
    )
    return value if isinstance(value, dict) else json.loads(value)


async def report(han: Any, reference_id: str, status: str, **extra: Any) -> None:
    """Set a status directly (the callback's own tests cover the TDSP path)."""
    if extra.get("mac") is None:
        await han.connection.execute(
            text("UPDATE han_messages SET status = :s WHERE reference_id = :r"),
            {"s": status, "r": reference_id},
        )
    await han.connection.execute(
        text(
            "INSERT INTO han_message_status_log (message_id, device_mac, status_code,"
            " description, reported_by, status_at) SELECT id, :mac, :s, :d, 'tdsp', now()"
            " FROM han_messages WHERE reference_id = :r"
        ),
        {"s": status, "r": reference_id, "mac": extra.get("mac"), "d": f"test {status}"},
    )


async def test_a_load_control_event_is_encoded_with_smart_energy_wire_values(han: Any) -> None:
    esiid = await han.add_esiid()
    start = datetime(2031, 7, 1, 16, 0, tzinfo=UTC)
    receipt = await han.zeep().SendLoadControlEvent(
        EsiId=esiid,
        DeviceClass=0x0001,  # HVAC compressor or furnace
        UtilityEnrollmentGroup=3,
        StartTime=start,
        DurationInMinutes=120,
        CriticalityLevel=5,
        CoolingTemperatureOffset=20,
        HeatingTemperatureSetPoint=1850,
        AverageLoadAdjustmentPercentage=-30,
        RandomizeEndTime=True,
    )
    assert re.fullmatch(r"R[0-9]{12}", receipt.RequestId)
    assert receipt.CancellationId is None
    assert (receipt.EventCategory, receipt.StatusCode, receipt.MeterNumber) == ("LCE", "RQA", "M1")
    payload = await outbox_payload(han, receipt.RequestId)
    event = payload["LoadControlEvent"]
    assert event == {
        "IssuerEventId": receipt.SmartEnergyId,
        "DeviceClass": 1,
        "UtilityEnrollmentGroup": 3,
        "StartTime": int((start - datetime(2000, 1, 1, tzinfo=UTC)).total_seconds()),
        "DurationInMinutes": 120,
        "CriticalityLevel": 5,
        "CoolingTemperatureOffset": 20,
        "HeatingTemperatureOffset": 0xFF,  # not used
        "CoolingTemperatureSetPoint": -0x8000,  # not used
        "HeatingTemperatureSetPoint": 1850,
        "AverageLoadAdjustmentPercentage": -30,
        "DutyCycle": 0xFF,
        "EventControl": 0b10,  # randomize end only
    }


async def test_price_and_text_messages_pack_their_fields(han: Any) -> None:
    esiid = await han.add_esiid()
    client = han.zeep()
    price = await client.SendPriceMessage(
        EsiId=esiid,
        ProviderId=42,
        RateLabel="SUMMER PEAK",
        PriceTrailingDigit=4,
        PriceTier=2,
        NumberOfPriceTiers=3,
        RegisterTier=2,
        Price=1295,
    )
    publish = (await outbox_payload(han, price.RequestId))["PublishPrice"]
    assert publish["PriceTrailingDigitAndPriceTier"] == 0x42
    assert publish["NumberOfPriceTiersAndRegisterTier"] == 0x32
    assert (publish["StartTime"], publish["DurationInMinutes"]) == (0, 0xFFFF)  # now, until changed
    assert (publish["Currency"], publish["UnitOfMeasure"], publish["PriceRatio"]) == (840, 0, 0xFF)
    assert publish["GenerationPrice"] == 0xFFFFFFFF
    text_receipt = await client.SendTextMessage(
        EsiId=esiid,
        Text="Peak pricing 2-6 pm today",
        Importance="High",
        ConfirmationRequired=True,
        DurationInMinutes=240,
    )
    display = (await outbox_payload(han, text_receipt.RequestId))["DisplayMessage"]
    assert display["MessageControl"] == 0b1000_1000  # confirmation bit 7, importance high (2)
    assert display["MessageId"] == text_receipt.SmartEnergyId != price.SmartEnergyId
    assert display["Message"] == "Peak pricing 2-6 pm today"


@pytest.mark.parametrize(
    ("operation", "fields", "expected"),
    [
        ("SendLoadControlEvent", {"DurationInMinutes": 1441}, "schema"),
        ("SendLoadControlEvent", {"CriticalityLevel": 0}, "schema"),
        ("SendLoadControlEvent", {"CriticalityLevel": 16}, "schema"),
        ("SendLoadControlEvent", {"DeviceClass": 0}, "schema"),
        ("SendLoadControlEvent", {"DeviceClass": 4096}, "schema"),
        ("SendLoadControlEvent", {"AverageLoadAdjustmentPercentage": -101}, "schema"),
        ("SendLoadControlEvent", {"DutyCycle": 101}, "schema"),
        ("SendLoadControlEvent", {"CoolingTemperatureOffset": 255}, "schema"),
        ("SendLoadControlEvent", {"HeatingTemperatureSetPoint": -27316}, "schema"),
        (
            "SendLoadControlEvent",
            {"StartTime": datetime(2020, 1, 1, tzinfo=UTC), "DurationInMinutes": 60},
            "already be over",
        ),
        ("SendPriceMessage", {"RateLabel": "THIRTEEN CHAR"}, "schema"),
        ("SendPriceMessage", {"PriceTier": 7}, "schema"),
        ("SendPriceMessage", {"PriceTier": 4, "NumberOfPriceTiers": 3}, "above NumberOfPriceTiers"),
        ("SendPriceMessage", {"PriceTrailingDigit": 16}, "schema"),
        ("SendTextMessage", {"Text": "é" * 30}, "60 bytes"),
        ("SendTextMessage", {"Text": "x" * 60}, "schema"),
        ("SendTextMessage", {"Text": "tab\there"}, "control characters"),
    ],
)
async def test_smart_energy_ranges_are_enforced(
    han: Any, operation: str, fields: dict[str, Any], expected: str
) -> None:
    valid: dict[str, dict[str, Any]] = {
        "SendLoadControlEvent": {"DeviceClass": 1, "DurationInMinutes": 60, "CriticalityLevel": 3},
        "SendPriceMessage": {
            "ProviderId": 1,
            "RateLabel": "BASE",
            "PriceTrailingDigit": 2,
            "PriceTier": 1,
            "NumberOfPriceTiers": 0,
            "RegisterTier": 1,
            "Price": 100,
        },
        "SendTextMessage": {"Text": "hello"},
    }
    esiid = await han.add_esiid()
    with pytest.raises(Fault) as refused:
        await getattr(han.zeep(), operation)(EsiId=esiid, **{**valid[operation], **fields})
    assert code_of(refused.value) == "Client.Validation"
    assert expected in refused.value.message
    assert (
        await han.connection.scalar(
            text("SELECT count(*) FROM han_messages WHERE esiid = :e"), {"e": esiid}
        )
        == 0
    )


async def test_cancellations_target_your_own_messages_once(han: Any) -> None:
    esiid = await han.add_esiid()
    client = han.zeep()
    event = await client.SendLoadControlEvent(
        EsiId=esiid,
        DeviceClass=0x0004,
        UtilityEnrollmentGroup=7,
        DurationInMinutes=30,
        CriticalityLevel=2,
    )
    message = await client.SendTextMessage(EsiId=esiid, Text="hi")
    cancel = await client.CancelLoadControlEvent(RequestId=event.RequestId)
    assert re.fullmatch(r"C[0-9]{12}", cancel.CancellationId)
    assert (cancel.RequestId, cancel.EventCategory, cancel.StatusCode) == (
        event.RequestId,
        "CLE",
        "RQA",
    )
    payload = await outbox_payload(han, cancel.CancellationId)
    assert payload["TargetRequestId"] == event.RequestId
    assert payload["CancelLoadControlEvent"] == {
        "IssuerEventId": event.SmartEnergyId,
        "DeviceClass": 4,
        "UtilityEnrollmentGroup": 7,
        "CancelControl": 0,
        "EffectiveTime": 0,
    }
    with pytest.raises(Fault) as twice:
        await client.CancelLoadControlEvent(RequestId=event.RequestId)
    assert code_of(twice.value) == "Client.Conflict"
    with pytest.raises(Fault) as wrong_kind:
        await client.CancelLoadControlEvent(RequestId=message.RequestId)
    assert code_of(wrong_kind.value) == "Client.NotFound"
    with pytest.raises(Fault) as not_theirs:
        await han.zeep(han.world.other_rep).CancelTextMessage(RequestId=message.RequestId)
    assert code_of(not_theirs.value) == "Client.NotFound"
    csm = await client.CancelTextMessage(RequestId=message.RequestId)
    assert (await outbox_payload(han, csm.CancellationId))["CancelDisplayMessage"] == {
        "MessageId": message.SmartEnergyId,
        "MessageControl": 0,
    }
    cal = await client.CancelAllLoadControlEvents(EsiId=esiid, RandomizeEndTime=True)
    assert cal.RequestId is None and cal.EventCategory == "CAL"
    assert (await outbox_payload(han, cal.CancellationId))["CancelAllLoadControlEvents"] == {
        "CancelControl": 1
    }


async def test_a_failed_message_cannot_be_cancelled(han: Any) -> None:
    esiid = await han.add_esiid()
    client = han.zeep()
    message = await client.SendTextMessage(EsiId=esiid, Text="hi")
    await report(han, message.RequestId, "FLR")
    with pytest.raises(Fault) as refused:
        await client.CancelTextMessage(RequestId=message.RequestId)
    assert code_of(refused.value) == "Client.Conflict"
    assert "already failed" in refused.value.message


async def test_request_and_cancellation_ids_are_unique(han: Any) -> None:
    esiid = await han.add_esiid()
    client = han.zeep()
    seen: set[str] = set()
    smart_energy: set[int] = set()
    for index in range(10):
        receipt = await client.SendTextMessage(EsiId=esiid, Text=f"message {index}")
        seen.add(receipt.RequestId)
        smart_energy.add(receipt.SmartEnergyId)
        cancel = await client.CancelTextMessage(RequestId=receipt.RequestId)
        seen.add(cancel.CancellationId)
    assert len(seen) == 20 and len(smart_energy) == 10


async def test_message_status_and_messaging_log_show_seed_004_columns(han: Any, ids: Any) -> None:
    esiid = await han.add_esiid()
    mac = ids.mac()
    client = han.zeep()
    before = datetime.now(UTC) - timedelta(minutes=1)
    event = await client.SendLoadControlEvent(
        EsiId=esiid, DeviceClass=1, DurationInMinutes=30, CriticalityLevel=2
    )
    await report(han, event.RequestId, "ACK")
    await report(han, event.RequestId, "CON", mac=mac)
    cancel = await client.CancelLoadControlEvent(RequestId=event.RequestId)
    status = await client.GetMessageStatus(Id=event.RequestId)
    assert status.Receipt.StatusCode == "ACK"
    assert [(d.MacAddress, d.StatusCode) for d in status.DeviceStatus] == [(mac, "CON")]
    assert [r.StatusCode for r in status.Row] == ["RQA", "ACK", "CON"]
    cancel_status = await client.GetMessageStatus(Id=cancel.CancellationId)
    assert cancel_status.Receipt.EventCategory == "CLE"
    log = await client.GetMessagingLog(From=before, To=datetime.now(UTC) + timedelta(minutes=1))
    assert log.Truncated is False
    rows = [
        (r.RequestID, r.MessageCancellationID, r.EventCategoryID, r.StatusCode, r.DeviceMACAddr)
        for r in log.Row
    ]
    assert rows == [
        (event.RequestId, None, "LCE", "RQA", None),
        (event.RequestId, None, "LCE", "ACK", None),
        (event.RequestId, None, "LCE", "CON", mac),
        (event.RequestId, cancel.CancellationId, "CLE", "RQA", None),
    ]
    first = log.Row[0]
    assert (first.TDSPDUNSNumber, first.ESIID, first.MeterSerialNumber) == (
        han.world.tdsp.duns,
        esiid,
        "M1",
    )
    assert first.StatusDesc == "Request accepted and sent to TDSP"
    assert len({r.MessageStatusID for r in log.Row}) == 4
    truncated = await client.GetMessagingLog(
        From=before, To=datetime.now(UTC) + timedelta(minutes=1), MaxRows=2
    )
    assert truncated.Truncated is True and len(truncated.Row) == 2
    only_cancels = await client.GetMessagingLog(
        From=before, To=datetime.now(UTC) + timedelta(minutes=1), EventCategory="CLE"
    )
    assert [r.EventCategoryID for r in only_cancels.Row] == ["CLE"]
    other = await han.zeep(han.world.other_rep).GetMessagingLog(
        From=before, To=datetime.now(UTC) + timedelta(minutes=1)
    )
    assert other.Row == []
    with pytest.raises(Fault) as hidden:
        await han.zeep(han.world.other_rep).GetMessageStatus(Id=event.RequestId)
    assert code_of(hidden.value) == "Client.NotFound"


@pytest.mark.parametrize(
    ("days", "max_rows", "code"),
    [(200, None, "Client.Limit"), (1, 20_000, "Client.Limit"), (-1, None, "Client.Validation")],
)
async def test_messaging_log_limits(han: Any, days: int, max_rows: int | None, code: str) -> None:
    now = datetime.now(UTC)
    arguments: dict[str, Any] = {"From": now, "To": now + timedelta(days=days)}
    if max_rows is not None:
        arguments["MaxRows"] = max_rows
    with pytest.raises(Fault) as refused:
        await han.zeep().GetMessagingLog(**arguments)
    assert code_of(refused.value) == code
