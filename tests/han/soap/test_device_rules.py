"""Device provisioning rules, with zeep as the REP's client (over the ASGI transport)."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from zeep.exceptions import Fault

from meterhub_common.domain import today_central


def code_of(fault: Fault) -> str:
    return (fault.code or "").split(":")[-1]


async def set_status(han: Any, request_id: str, status: str) -> None:
    await han.connection.execute(
        text("UPDATE han_devices SET status = :s WHERE add_request_id = :r"),
        {"s": status, "r": request_id},
    )


async def test_provision_is_acknowledged_recorded_and_queued_for_the_tdsp(
    han: Any, ids: Any
) -> None:
    esiid = await han.add_esiid()
    mac, code = ids.mac(), ids.install_code(8)
    answer = await han.zeep().ProvisionDevice(
        EsiId=esiid, MacAddress=":".join(mac[i : i + 2] for i in range(0, 16, 2)), InstallCode=code
    )
    assert re.fullmatch(r"R[0-9]{12}", answer.RequestId)
    device = answer.Device
    assert (device.MacAddress, device.InstallCode, device.MeterNumber) == (mac, code, "M1")
    assert device.Status == "Add Acknowledged" and device.TakesSlot is True
    assert device.AddRequestId == answer.RequestId
    row = (
        await han.connection.execute(
            text(
                "SELECT tdsp_duns, operation, state, payload FROM han_outbox "
                "WHERE idempotency_key = :r"
            ),
            {"r": answer.RequestId},
        )
    ).one()
    payload = row[3] if isinstance(row[3], dict) else json.loads(row[3])
    assert row[:3] == (han.world.tdsp.duns, "AddDevice", "pending")
    assert payload == {
        "RequestId": answer.RequestId,
        "EsiId": esiid,
        "MeterNumber": "M1",
        "MacAddress": mac,
        "InstallCode": code,
    }
    history = await han.zeep().GetDeviceHistory(EsiId=esiid)
    assert [(e.Status, e.ReportedBy) for e in history.Entry] == [("Add Acknowledged", "rep")]


async def test_a_sixth_device_on_one_esiid_is_refused(han: Any, ids: Any) -> None:
    esiid = await han.add_esiid()
    client = han.zeep()
    for _ in range(5):
        await client.ProvisionDevice(
            EsiId=esiid, MacAddress=ids.mac(), InstallCode=ids.install_code()
        )
    with pytest.raises(Fault) as refused:
        await client.ProvisionDevice(
            EsiId=esiid, MacAddress=ids.mac(), InstallCode=ids.install_code()
        )
    assert code_of(refused.value) == "Client.Limit"
    assert "at most 5" in refused.value.message
    listing = await client.GetDevices(EsiId=esiid)
    assert (listing.SlotsUsed, listing.SlotsLimit, len(listing.Device)) == (5, 5, 5)


async def test_only_statuses_that_take_a_slot_count_toward_five(han: Any, ids: Any) -> None:
    esiid = await han.add_esiid()
    client = han.zeep()
    requests = []
    for _ in range(5):
        answer = await client.ProvisionDevice(
            EsiId=esiid, MacAddress=ids.mac(), InstallCode=ids.install_code()
        )
        requests.append(answer.RequestId)
    # Seed 004: Add Rejected, Add Failed, Remove Rejected and Device Removed free the slot;
    # Remove Failed keeps it.
    await set_status(han, requests[0], "Add Rejected")
    await set_status(han, requests[1], "Remove Failed")
    await client.ProvisionDevice(EsiId=esiid, MacAddress=ids.mac(), InstallCode=ids.install_code())
    with pytest.raises(Fault) as refused:
        await client.ProvisionDevice(
            EsiId=esiid, MacAddress=ids.mac(), InstallCode=ids.install_code()
        )
    assert code_of(refused.value) == "Client.Limit"
    for request_id, status in zip(
        requests[2:], ("Add Failed", "Remove Rejected", "Device Removed"), strict=True
    ):
        await set_status(han, request_id, status)
    for _ in range(3):
        await client.ProvisionDevice(
            EsiId=esiid, MacAddress=ids.mac(), InstallCode=ids.install_code()
        )
    listing = await client.GetDevices(EsiId=esiid)
    assert listing.SlotsUsed == 5 and len(listing.Device) == 9


@pytest.mark.parametrize(
    ("install_code", "expected"),
    [
        ("83FED3407A939723A5C639B26916D505C3B6", "CRC does not check"),
        ("83FED3407A939723A5C639B26916D505B5C3", "CRC does not check"),  # CRC byte order
        ("83FED3407A939723A5C639B26916D505C3B5AA", "does not match the WSDL's schema"),
        ("0102030405C3B5", "does not match the WSDL's schema"),
    ],
)
async def test_a_bad_install_code_is_refused_and_nothing_is_written(
    han: Any, ids: Any, install_code: str, expected: str
) -> None:
    esiid = await han.add_esiid()
    with pytest.raises(Fault) as refused:
        await han.zeep().ProvisionDevice(
            EsiId=esiid, MacAddress=ids.mac(), InstallCode=install_code
        )
    assert code_of(refused.value) == "Client.Validation"
    assert expected in refused.value.message
    count = await han.connection.scalar(
        text("SELECT count(*) FROM han_devices WHERE esiid = :e"), {"e": esiid}
    )
    assert count == 0


async def test_the_smart_energy_sample_install_code_is_accepted(han: Any, ids: Any) -> None:
    esiid = await han.add_esiid()
    answer = await han.zeep().ProvisionDevice(
        EsiId=esiid, MacAddress=ids.mac(), InstallCode="83fed3407a939723a5c639b26916d505c3b5"
    )
    assert answer.Device.InstallCode == "83FED3407A939723A5C639B26916D505C3B5"


async def _fault(call: Any) -> tuple[str, str]:
    with pytest.raises(Fault) as refused:
        await call
    return code_of(refused.value), refused.value.message


async def test_another_reps_esiid_answers_exactly_like_a_nonexistent_one(
    han: Any, ids: Any
) -> None:
    theirs = await han.add_esiid(rep_duns=han.world.other_rep.duns)
    ended = await han.add_esiid(
        start=date(2020, 1, 1),
        end=today_central(),  # we served it until yesterday
    )
    nowhere = ids.esiid()
    client = han.zeep()

    async def answers(esiid: str) -> list[tuple[str, str]]:
        results = [
            await _fault(
                client.ProvisionDevice(
                    EsiId=esiid, MacAddress=ids.mac(), InstallCode=ids.install_code()
                )
            ),
            await _fault(client.DeprovisionDevice(EsiId=esiid, MacAddress=ids.mac())),
            await _fault(client.GetDevices(EsiId=esiid)),
            await _fault(client.GetDeviceHistory(EsiId=esiid)),
            await _fault(client.SendTextMessage(EsiId=esiid, Text="hello")),
            await _fault(client.CancelAllLoadControlEvents(EsiId=esiid)),
        ]
        return [(code, message.replace(esiid, "<ESIID>")) for code, message in results]

    expected = await answers(nowhere)
    assert all(code == "Client.NotFound" for code, _ in expected)
    assert await answers(theirs) == expected
    assert await answers(ended) == expected
    # The other REP does see its own ESI ID.
    listing = await han.zeep(han.world.other_rep).GetDevices(EsiId=theirs)
    assert listing.SlotsUsed == 0


async def test_a_device_on_another_meter_must_be_removed_there_first(han: Any, ids: Any) -> None:
    first, second = await han.add_esiid(), await han.add_esiid()
    mac = ids.mac()
    client = han.zeep()
    await client.ProvisionDevice(EsiId=first, MacAddress=mac, InstallCode=ids.install_code())
    code, message = await _fault(
        client.ProvisionDevice(EsiId=second, MacAddress=mac, InstallCode=ids.install_code())
    )
    assert code == "Client.Conflict" and "removed there first" in message
    code, message = await _fault(
        client.ProvisionDevice(EsiId=first, MacAddress=mac, InstallCode=ids.install_code())
    )
    assert code == "Client.Conflict" and "already on ESI ID" in message


async def test_deprovision_only_from_added_meter_ready_or_remove_failed(han: Any, ids: Any) -> None:
    esiid = await han.add_esiid()
    mac = ids.mac()
    client = han.zeep()
    added = await client.ProvisionDevice(
        EsiId=esiid, MacAddress=mac, InstallCode=ids.install_code()
    )
    code, message = await _fault(client.DeprovisionDevice(EsiId=esiid, MacAddress=mac))
    assert code == "Client.Conflict" and "Add Acknowledged" in message
    await set_status(han, added.RequestId, "Device Added")
    removal = await client.DeprovisionDevice(EsiId=esiid, MacAddress=mac)
    assert removal.RequestId != added.RequestId
    assert removal.Device.Status == "Remove Acknowledged"
    assert removal.Device.RemoveRequestId == removal.RequestId
    assert removal.Device.TakesSlot is True
    operation = await han.connection.scalar(
        text("SELECT operation FROM han_outbox WHERE idempotency_key = :r"),
        {"r": removal.RequestId},
    )
    assert operation == "RemoveDevice"
    code, _ = await _fault(client.DeprovisionDevice(EsiId=esiid, MacAddress=ids.mac()))
    assert code == "Client.NotFound"


async def test_an_esiid_with_two_meters_needs_the_meter_number(han: Any, ids: Any) -> None:
    esiid = await han.add_esiid(meters=("A1", "B2"))
    client = han.zeep()
    code, message = await _fault(
        client.ProvisionDevice(EsiId=esiid, MacAddress=ids.mac(), InstallCode=ids.install_code())
    )
    assert code == "Client.Validation" and "give MeterNumber" in message
    code, _ = await _fault(
        client.ProvisionDevice(
            EsiId=esiid, MeterNumber="C3", MacAddress=ids.mac(), InstallCode=ids.install_code()
        )
    )
    assert code == "Client.NotFound"
    answer = await client.ProvisionDevice(
        EsiId=esiid, MeterNumber="B2", MacAddress=ids.mac(), InstallCode=ids.install_code()
    )
    assert answer.Device.MeterNumber == "B2"


async def test_the_new_rep_of_record_acts_on_devices_its_predecessor_added(
    han: Any, ids: Any
) -> None:
    yesterday = today_central() - timedelta(days=1)
    esiid = await han.add_esiid(end=yesterday)
    await han.connection.execute(
        text("INSERT INTO service_history (esiid, start_date, rep_duns) VALUES (:e, :s, :r)"),
        {"e": esiid, "s": yesterday, "r": han.world.other_rep.duns},
    )
    await han.connection.execute(
        text(
            "INSERT INTO han_devices (id, esiid, meter_number, tdsp_duns, rep_duns, mac_address,"
            " install_code, status, add_request_id, status_at) VALUES (gen_random_uuid(), :e,"
            " 'M1', :t, :r, :m, :c, 'Device Added', 'R999999999901', now())"
        ),
        {
            "e": esiid,
            "t": han.world.tdsp.duns,
            "r": han.world.rep.duns,
            "m": "0011223344556677",
            "c": ids.install_code(),
        },
    )
    listing = await han.zeep(han.world.other_rep).GetDevices(EsiId=esiid)
    assert [d.MacAddress for d in listing.Device] == ["0011223344556677"]
    removal = await han.zeep(han.world.other_rep).DeprovisionDevice(
        EsiId=esiid, MacAddress="00-11-22-33-44-55-66-77"
    )
    assert removal.Device.Status == "Remove Acknowledged"
