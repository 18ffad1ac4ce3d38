"""Every operation with zeep as the REP's client, against the live WSDL over real HTTP.

The gateway and the head-end simulator run on loopback; the simulator answers at zero delay
and reports progress to the gateway's callback, so each request travels the whole path.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from zeep.exceptions import Fault


async def test_every_operation_end_to_end(fresh_sim: Any, ids: Any) -> None:
    live = fresh_sim
    await live.sim(device_level_reports=True)
    esiid = await live.add_esiid()
    started = datetime.now(UTC) - timedelta(seconds=5)

    macs = [ids.mac(), ids.mac()]
    for mac in macs:
        answer = await live.call(
            "ProvisionDevice", EsiId=esiid, MacAddress=mac, InstallCode=ids.install_code(12)
        )
        assert answer.Device.Status == "Add Acknowledged"
        await live.wait_device(answer.RequestId, "Device Added")

    devices = await live.call("GetDevices", EsiId=esiid)
    assert devices.SlotsUsed == 2
    assert {(d.MacAddress, d.Status, d.TakesSlot) for d in devices.Device} == {
        (mac, "Device Added", True) for mac in macs
    }
    history = await live.call("GetDeviceHistory", EsiId=esiid, MacAddress=macs[0])
    # The head-end's receipt (a tdsp "Add Acknowledged" entry) is recorded unless its first
    # report overtakes the answer on the wire.
    assert [(e.Status, e.ReportedBy) for e in history.Entry if not receipt(e)] == [
        ("Add Acknowledged", "rep"),
        ("Add Pending", "tdsp"),
        ("Meter Ready", "tdsp"),
        ("Device Added", "tdsp"),
    ]

    price = await live.call(
        "SendPriceMessage",
        EsiId=esiid,
        ProviderId=7,
        RateLabel="TOU-PEAK",
        PriceTrailingDigit=3,
        PriceTier=3,
        NumberOfPriceTiers=3,
        RegisterTier=3,
        DurationInMinutes=240,
        Price=18750,
    )
    event = await live.call(
        "SendLoadControlEvent",
        EsiId=esiid,
        DeviceClass=0x0001,
        StartTime=datetime.now(UTC) + timedelta(hours=2),
        DurationInMinutes=180,
        CriticalityLevel=4,
        CoolingTemperatureOffset=30,
        RandomizeStartTime=True,
    )
    await live.wait_message(price.RequestId, "CON")
    await live.wait_message(event.RequestId, "CON")
    event_status = await live.call("GetMessageStatus", Id=event.RequestId)
    codes = [r.StatusCode for r in event_status.Row if r.DeviceMACAddr is None]
    assert [c for c in codes if c != "ACK"] == ["RQA", "PEN", "STR", "CON"]

    cancel = await live.call("CancelLoadControlEvent", RequestId=event.RequestId)
    cancel_all = await live.call("CancelAllLoadControlEvents", EsiId=esiid)
    await live.wait_message(cancel.CancellationId, "CON")
    await live.wait_message(cancel_all.CancellationId, "CON")

    message = await live.call(
        "SendTextMessage",
        EsiId=esiid,
        Text="Thank you for saving energy",
        ConfirmationRequired=True,
    )
    await live.wait_message(message.RequestId, "CON")

    async def both_devices_confirmed() -> bool:
        status = await live.call("GetMessageStatus", Id=message.RequestId)
        return sorted((d.MacAddress, d.StatusCode) for d in status.DeviceStatus) == sorted(
            (mac, "CON") for mac in macs
        )

    await live.wait_for(both_devices_confirmed, what="device-level confirmations")
    withdrawn = await live.call("CancelTextMessage", RequestId=message.RequestId)
    await live.wait_message(withdrawn.CancellationId, "CON")

    log = await live.call(
        "GetMessagingLog", From=started, To=datetime.now(UTC) + timedelta(minutes=1), EsiId=esiid
    )
    categories = {row.EventCategoryID for row in log.Row}
    assert categories == {"PRM", "LCE", "CLE", "CAL", "STM", "CSM"}
    assert {row.DeviceMACAddr for row in log.Row if row.DeviceMACAddr} == set(macs)
    assert all(row.TDSPDUNSNumber == live.world.tdsp.duns for row in log.Row)

    removal = await live.call("DeprovisionDevice", EsiId=esiid, MacAddress=macs[0])
    await live.wait_device(removal.RequestId, "Device Removed")
    after = await live.call("GetDevices", EsiId=esiid)
    assert after.SlotsUsed == 1
    assert {d.Status for d in after.Device} == {"Device Added", "Device Removed"}


async def test_the_live_wsdl_serves_this_host(fresh_sim: Any) -> None:
    client = fresh_sim.zeep_client()
    port = next(iter(client.wsdl.services["HanService"].ports.values()))
    assert port.binding_options["address"] == f"{fresh_sim.han_url}/soap"
    assert len(port.binding._operations) == 12


async def test_failing_and_rejecting_head_ends(fresh_sim: Any, ids: Any) -> None:
    live = fresh_sim
    esiid = await live.add_esiid()
    await live.sim(mode="fail")
    failing = await live.call(
        "ProvisionDevice", EsiId=esiid, MacAddress=ids.mac(), InstallCode=ids.install_code()
    )
    lost = await live.call("SendTextMessage", EsiId=esiid, Text="will not arrive")
    await live.wait_device(failing.RequestId, "Add Failed")
    await live.wait_message(lost.RequestId, "FLR")
    await live.sim(mode="reject")
    rejected = await live.call(
        "ProvisionDevice", EsiId=esiid, MacAddress=ids.mac(), InstallCode=ids.install_code()
    )
    refused = await live.call("SendTextMessage", EsiId=esiid, Text="refused")
    await live.wait_device(rejected.RequestId, "Add Rejected")
    await live.wait_message(refused.RequestId, "FLR")
    status = await live.call("GetMessageStatus", Id=refused.RequestId)
    assert "mode reject" in status.StatusDesc
    history = await live.call("GetDeviceHistory", EsiId=esiid)
    assert [e.Status for e in history.Entry if e.ReportedBy == "tdsp" and not receipt(e)] == [
        "Add Pending",
        "Add Failed",
        "Add Rejected",
    ]
    devices = await live.call("GetDevices", EsiId=esiid)
    assert devices.SlotsUsed == 0


async def test_live_faults_for_limits_codes_and_other_reps(fresh_sim: Any, ids: Any) -> None:
    live = fresh_sim
    esiid = await live.add_esiid()
    theirs = await live.add_esiid(rep_duns=live.world.other_rep.duns)
    for _ in range(5):
        await live.call(
            "ProvisionDevice", EsiId=esiid, MacAddress=ids.mac(), InstallCode=ids.install_code()
        )
    with pytest.raises(Fault) as sixth:
        await live.call(
            "ProvisionDevice", EsiId=esiid, MacAddress=ids.mac(), InstallCode=ids.install_code()
        )
    assert sixth.value.code == "soap:Client.Limit"
    with pytest.raises(Fault) as bad_code:
        await live.call(
            "ProvisionDevice",
            EsiId=theirs,
            MacAddress=ids.mac(),
            InstallCode="83FED3407A939723A5C639B26916D505C3B6",
        )
    assert bad_code.value.code == "soap:Client.Validation"
    faults = []
    for target in (theirs, ids.esiid()):
        with pytest.raises(Fault) as hidden:
            await live.call("GetDevices", EsiId=target)
        faults.append((hidden.value.code, hidden.value.message.replace(target, "X")))
    assert faults[0] == faults[1]
    assert faults[0][0] == "soap:Client.NotFound"
    with pytest.raises(Fault) as wrong_secret:
        await asyncio_call(live.zeep_client(secret="nope").service.GetDevices, EsiId=esiid)
    assert wrong_secret.value.code == "soap:Client.Authentication"
    async with live.engine.connect() as conn:
        written = await conn.scalar(
            text("SELECT count(*) FROM han_devices WHERE esiid = :e"), {"e": theirs}
        )
    assert written == 0


async def asyncio_call(operation: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(operation, **kwargs)


def receipt(entry: Any) -> bool:
    return bool(entry.Status == "Add Acknowledged" and entry.ReportedBy == "tdsp")
